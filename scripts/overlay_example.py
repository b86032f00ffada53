"""Make the README picture of a returned overlay series: replay a study through the default pipeline in
process and save the T1 and T2 overlays of one slice side by side as a PNG.

    .venv/bin/python scripts/overlay_example.py data/sim/mrd/sim0000.h5 docs/images/overlay_example.png --slice 1

--ground-truth FILE_labels.h5 uses the simulator's label series instead of the model (for checking the drawing).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import ismrmrd
import numpy as np

from myoseg.core import metakeys as mk
from myoseg.core.intake import meta_str
from myoseg.core.mrdio import read_mrd
from myoseg.core.overlay import draw_lines
from myoseg.stream.client import run_in_process
from myoseg.stream.pipeline import load_pipeline


def rgb_of(image: ismrmrd.Image) -> np.ndarray:
    """(rows, cols, 3) uint8 of an MRD RGB image."""
    return np.moveaxis(image.data[:, 0], 0, -1).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--slice", type=int, default=1)
    parser.add_argument("--ground-truth", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=None, help="a model sidecar instead of the shipped one")
    parser.add_argument("--crop-mm", type=float, default=130.0, help="crop around the heart (0 = whole image)")
    args = parser.parse_args()
    contents = read_mrd(args.study)
    if args.ground_truth is not None:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from myoseg.gadgets import segment
        from results_fixtures import FakeSegmenter

        fake = FakeSegmenter(model_id="ground-truth@000000000000")
        labels = read_mrd(args.ground_truth).images
        for image in contents.images:
            match = [lab for lab in labels if (lab.slice, lab.image_index) == (image.slice, image.image_index)
                     and meta_str(lab.meta, mk.SOURCE_SERIES) == str(image.image_series_index)]
            ratio = float(meta_str(image.meta, mk.GT_SCALE_RATIO) or 1)
            fake.expect(image.data[0, 0].astype(np.float64) / ratio, match[0].data[0, 0])
        segment.cache_segmenter(fake)
    if args.model is not None and args.ground_truth is None:
        from myoseg.gadgets import segment
        from myoseg.models.segmenter import load_segmenter

        segment.cache_segmenter(load_segmenter(args.model))  # the pipeline's default model key now maps to it
    result = run_in_process(contents.images, load_pipeline("myoseg_t1t2"), contents.header_xml)
    overlays = [i for i in result.items if isinstance(i, ismrmrd.Image)
                and meta_str(i.meta, mk.ROLE) == mk.ROLE_OVERLAY and i.slice == args.slice]
    if not overlays:
        raise SystemExit(f"no overlay for slice {args.slice}")
    tiles = []
    for overlay in sorted(overlays, key=lambda o: o.image_series_index):
        rgb = rgb_of(overlay)
        masks = [i for i in result.items if isinstance(i, ismrmrd.Image) and meta_str(i.meta, mk.ROLE) == mk.ROLE_MASK
                 and i.slice == overlay.slice and meta_str(i.meta, mk.SOURCE_SERIES) == meta_str(overlay.meta, mk.SOURCE_SERIES)]
        if args.crop_mm > 0 and masks and masks[0].data.any():
            # Crop around the heart and print the values again on the crop.
            labels = masks[0].data[0, 0]
            scale = rgb.shape[0] // labels.shape[0]
            spacing = float(masks[0].field_of_view[1]) / labels.shape[0]
            rows, cols = np.nonzero(labels)
            half = int(args.crop_mm / spacing / 2) * scale
            r0 = int(np.clip((rows.mean() + 0.5) * scale - half, 0, max(rgb.shape[0] - 2 * half, 0)))
            c0 = int(np.clip((cols.mean() + 0.5) * scale - half, 0, max(rgb.shape[1] - 2 * half, 0)))
            rgb = np.ascontiguousarray(rgb[r0:r0 + 2 * half, c0:c0 + 2 * half])
            rgb = cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
            text = meta_str(overlay.meta, mk.IMAGE_COMMENTS) or ""
            draw_lines(rgb, [(part.strip(), "white") for part in text.split("|")], scale)
        tiles.append(rgb)
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 6), (0, 0))) for t in tiles]
    picture = np.concatenate(tiles, axis=1)[:, :-6]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    for o in overlays:
        print(o.image_series_index, meta_str(o.meta, mk.IMAGE_COMMENTS))
    for o in result.items:
        if isinstance(o, ismrmrd.Image) and o.slice == args.slice and mk.REVIEW in o.meta:
            print("review:", o.image_series_index, o.meta[mk.REVIEW])
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
