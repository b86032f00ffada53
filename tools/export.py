"""`myoseg export`: trained weights -> ONNX (dynamic batch/H/W) + sidecar JSON (+ int8, + TensorRT engine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def main(
    weights: Annotated[Path, typer.Argument(help="Trained weights (.safetensors), e.g. runs/unet/best.safetensors.")],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("models/weights"),
    name: Annotated[str, typer.Option(help="Model name: OUT/NAME.onnx, .json, .safetensors.")] = "myoseg_unet",
    run_state: Annotated[
        Path | None, typer.Option(help="state.json of the training run, recorded in the sidecar.")
    ] = None,
    training_note: Annotated[str, typer.Option(help="Free text for the sidecar (data, command).")] = "",
    int8: Annotated[bool, typer.Option(help="Also write a static int8 QDQ variant NAME_int8.onnx.")] = False,
    calib_data: Annotated[Path | None, typer.Option(help="Dataset for int8 calibration (val split).")] = None,
    tensorrt: Annotated[bool, typer.Option("--tensorrt", help="Also build the TensorRT engine (GPU only).")] = False,
) -> None:
    """Export to ONNX with a dynamic batch axis, check ONNX Runtime against torch, write the sidecar JSON."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    from myoseg.models import exporting as ex

    training: dict = {"note": training_note} if training_note else {}
    arch = None
    if run_state is not None:
        state = json.loads(run_state.read_text())
        cfg = state["config"]
        arch = cfg.get("architecture")
        hist = state.get("history", [])
        training.update({
            "steps": state.get("step"), "best_val_loss": state.get("best_val_loss"),
            "batch": cfg.get("batch"), "lr": cfg.get("lr"), "seed": cfg.get("seed"), "crop": cfg["augment"].get("crop"),
            "last_validation": hist[-1] if hist else None,
            "best_validation": min(hist, key=lambda h: h["val_loss"]) if hist else None,
        })
    summary = ex.export_all(weights, out, name=name, training=training, architecture=arch)
    typer.echo(json.dumps(summary, indent=1))
    if int8:
        import numpy as np
        from myoseg.models import preprocess as pp

        from myoseg.core.data import LabelledSlice, iter_split

        if calib_data is None:
            raise typer.BadParameter("--int8 needs --calib-data DATASET")
        spec, xs = pp.GridSpec(), []
        for p in list(iter_split(calib_data, "val"))[::3][:48]:
            s = LabelledSlice.load(p)
            x = pp.to_canvas(s.map_ms, s.spacing_mm, s.map_type, spec, canvas=(192, 192)).x
            xs.append(x[None])
        q = ex.quantize_int8(Path(summary["onnx"]), out / f"{name}_int8.onnx", xs)
        ex.write_sidecar(q, None, arch or ex.DEFAULT_ARCH,
                         {**training, "note": f"static int8 QDQ (per-channel) of {name}.onnx, {len(xs)} val slices"},
                         name=f"{name}_int8")
        typer.echo(f"int8: {q} + {q.with_suffix('.json')} (check it: myoseg evaluate --model {q.with_suffix('.json')})")
        del np
    if tensorrt:
        from myoseg.models.segmenter import load_segmenter

        seg = load_segmenter(Path(summary["sidecar"]), backend="tensorrt")
        typer.echo(f"TensorRT engine: {seg.backend.engine_path}")  # type: ignore[attr-defined]
