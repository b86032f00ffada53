"""ISMRMRD HDF5 files: read everything in stream order, write images with their meta intact.

ismrmrd 1.15 `Dataset.append_image` stores the header's `attribute_string_len` as it was last serialised
(0 for a new image), so C++ readers (Gadgetron's client, ismrmrd_hdf5 tools) drop the meta. We set it first.
Gadgetron's client stores images under /<group>/image_<image_series_index>; we do the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import ismrmrd

DEFAULT_GROUP = "dataset"
_IMAGE_GROUP = re.compile(r"^image_(\d+)$")


def fix_attribute_length(image: ismrmrd.Image) -> None:
    """Make the header's attribute_string_len match the meta actually carried."""
    image._head.attribute_string_len = len(image.attribute_string.encode("utf-8"))


def image_path(image: ismrmrd.Image) -> str:
    return f"image_{int(image.image_series_index)}"


@dataclass
class MrdContents:
    header_xml: str | None
    acquisitions: list[ismrmrd.Acquisition] = field(default_factory=list)
    images: list[ismrmrd.Image] = field(default_factory=list)
    waveforms: list[ismrmrd.Waveform] = field(default_factory=list)


def list_groups(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        return [k for k in f if isinstance(f[k], h5py.Group)]


def read_mrd(path: Path, group: str | None = None) -> MrdContents:
    """Read a whole ISMRMRD file. With group=None, the only group (or 'dataset') is used."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such ISMRMRD file: {path}")
    if group is None:
        groups = list_groups(path)
        if not groups:
            raise ValueError(f"{path}: no groups; not an ISMRMRD HDF5 file")
        group = DEFAULT_GROUP if DEFAULT_GROUP in groups else groups[0]
    with h5py.File(path, "r") as f:
        if group not in f:
            raise ValueError(f"{path}: no group {group!r} (have {list(f.keys())})")
        names = list(f[group].keys())
    dataset = ismrmrd.Dataset(str(path), group, create_if_needed=False)
    try:
        contents = MrdContents(header_xml=None)
        if "xml" in names:
            raw = dataset.read_xml_header()
            contents.header_xml = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        if "data" in names:
            contents.acquisitions = [dataset.read_acquisition(i) for i in range(dataset.number_of_acquisitions())]
        if "waveforms" in names:
            contents.waveforms = [dataset.read_waveform(i) for i in range(dataset.number_of_waveforms())]
        image_groups = sorted((int(m.group(1)), n) for n in names if (m := _IMAGE_GROUP.match(n)))
        for _, name in image_groups:
            contents.images.extend(dataset.read_image(name, i) for i in range(dataset.number_of_images(name)))
    finally:
        dataset.close()
    return contents


def iter_images(path: Path, group: str | None = None) -> Iterator[ismrmrd.Image]:
    yield from read_mrd(path, group).images


def write_mrd(
    path: Path,
    images: Iterable[ismrmrd.Image],
    header_xml: str | None = None,
    group: str = DEFAULT_GROUP,
    acquisitions: Iterable[ismrmrd.Acquisition] = (),
    overwrite: bool = True,
) -> int:
    """Write images (and optional header/acquisitions) to an ISMRMRD file. Returns the image count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if overwrite and path.exists():
        path.unlink()
    dataset = ismrmrd.Dataset(str(path), group, create_if_needed=True)
    count = 0
    try:
        if header_xml is not None:
            dataset.write_xml_header(header_xml.encode("utf-8") if isinstance(header_xml, str) else header_xml)
        for acq in acquisitions:
            dataset.append_acquisition(acq)
        for image in images:
            fix_attribute_length(image)
            dataset.append_image(image_path(image), image)
            count += 1
    finally:
        dataset.close()
    return count
