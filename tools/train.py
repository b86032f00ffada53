"""`myoseg train`: train the U-Net on a `myoseg simulate` dataset or on your own labelled maps."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer


def main(
    data: Annotated[Path | None, typer.Option(help="Dataset folder (manifest.json + slices/<split>/*.npz).")] = None,
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints (safetensors), state.json, train.log.")] = Path(
        "runs/unet"
    ),
    user_data: Annotated[
        Path | None,
        typer.Option(help="Your own labelled maps (layout: models/README.md); imported into OUT/dataset first."),
    ] = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps in total (the LR schedule spans them).")] = 3000,
    batch: Annotated[int, typer.Option(help="Crops per step.")] = 16,
    crop: Annotated[int, typer.Option(help="Crop side in pixels at the model's grid (1.5 mm).")] = 160,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, warm-up then cosine).")] = 3e-3,
    val_every: Annotated[int, typer.Option(help="Validate and checkpoint every N steps.")] = 200,
    max_val: Annotated[int, typer.Option(help="At most this many validation slices (evenly spaced).")] = 240,
    seed: Annotated[int, typer.Option(help="Seed for weights, sampling and augmentation.")] = 0,
    threads: Annotated[int, typer.Option(help="torch intra-op threads (never more than free cores).")] = 2,
    bf16: Annotated[bool, typer.Option(help="bfloat16 autocast on CPU (about 2x faster on AVX-512 BF16).")] = True,
    init: Annotated[
        Path | None, typer.Option(help="Start from these weights (.safetensors), e.g. models/weights/*.safetensors.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in OUT from its last checkpoint.")] = False,
    early_stop: Annotated[bool, typer.Option(help="Stop when the validation loss plateaus.")] = True,
    follow: Annotated[
        bool, typer.Option("--follow", help="Re-read the train split at each validation (dataset still being written).")
    ] = False,
    progress: Annotated[bool | None, typer.Option(help="Progress bar (default: when stdout is a terminal).")] = None,
) -> None:
    """Train the U-Net (Dice+CE, augmentation, cosine LR, checkpoints on validation loss, resumable).

    Example: myoseg train --data data/sim --out runs/unet --steps 3000 --threads 2
    Fine-tune on your own data: myoseg train --user-data MY_MAPS --init models/weights/myoseg_unet.safetensors
    --out runs/finetune --steps 500 --lr 5e-4
    """
    import json

    import numpy as np
    from myoseg.models import training as tr

    from myoseg.core.data import LabelledSlice, iter_split

    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(out / "train.log"), logging.StreamHandler()],
    )
    if user_data is not None:
        from myoseg.models.userdata import import_user_data

        data = import_user_data(user_data, out / "dataset", seed=seed)
    if data is None:
        raise typer.BadParameter("give --data DIR (a simulate dataset) or --user-data DIR")

    cache: dict[Path, LabelledSlice] = {}

    def load(split: str) -> list[LabelledSlice]:
        out_list = []
        try:
            for p in iter_split(data, split):
                if p not in cache:
                    try:
                        cache[p] = LabelledSlice.load(p)
                    except Exception:  # noqa: BLE001
                        continue  # a file still being written (--follow)
                out_list.append(cache[p])
        except FileNotFoundError:
            pass
        return out_list

    def load_val() -> list[LabelledSlice]:
        val = load("val")
        if len(val) > max_val:
            val = [val[i] for i in np.linspace(0, len(val) - 1, max_val).round().astype(int)]
        return val

    train = load("train")
    val = load_val()
    if not train:
        raise typer.BadParameter(f"no training slices under {data}/slices/train")
    if resume:
        saved = json.loads((out / "state.json").read_text())["config"]
        cfg = tr.TrainConfig(**saved)
        cfg.steps = steps  # allow extending a run
        cfg.threads = threads  # the machine's free cores may differ from the first run's
    else:
        cfg = tr.TrainConfig(
            steps=steps, batch=batch, lr=lr, val_every=val_every, seed=seed, threads=threads, bf16=bf16,
            init=str(init) if init else None,
        )
        cfg.augment["crop"] = crop
    trainer = tr.Trainer(train, val, out, cfg, progress=progress, refresh=(lambda: load("train")) if follow else None,
                         refresh_val=load_val if follow else None)
    if resume:
        trainer.resume()
    result = trainer.fit(stop=(lambda: tr.plateau(trainer.history)) if early_stop else None)
    typer.echo(f"done: {result['steps']} steps, best val loss {result['best_val_loss']:.4f}; weights {out}/best.safetensors")
