"""The `myoseg` command. Each sub-command lives in myoseg.tools.<name> as a function `main`.

Tool modules import only typer and the standard library at module level, and do their heavy imports
inside `main`, so that `myoseg --help` and per-scan process starts stay fast.
"""

from __future__ import annotations

import importlib

import typer

# (command name, module, one-line help). The module's `main` carries the full --help text.
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "myoseg.tools.demo", "Simulate a study, replay it through `myoseg serve` over TCP, print T1/T2."),
    ("serve", "myoseg.tools.serve", "Run the warm MRD streaming server (FIRE/Gadgetron client protocol)."),
    ("replay", "myoseg.tools.replay", "Replay an ISMRMRD file through a pipeline, in process or over TCP."),
    ("simulate", "myoseg.tools.simulate", "Simulate MOLLI T1 / T2-prep T2 mapping scans with ground truth."),
    ("train", "myoseg.tools.train", "Train the U-Net on simulated or your own labelled maps."),
    ("evaluate", "myoseg.tools.evaluate", "Evaluate a model like the papers: Dice, IoU, HD95, MSD, dT1/dT2."),
    ("export", "myoseg.tools.export", "Export trained weights to ONNX (dynamic batch) and TensorRT."),
    ("bench", "myoseg.tools.bench", "Benchmark latency per stage and backend."),
    ("dicom", "myoseg.tools.dicom", "DICOM import/export: maps -> ISMRMRD, results -> SEG / SR."),
]

app = typer.Typer(
    name="myoseg",
    help="Scanner-inline LV myocardium segmentation on cardiac T1/T2 maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    for name, module_name, short_help in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # tool not written yet
        sub_app = getattr(module, "app", None)
        if isinstance(sub_app, typer.Typer):  # a tool with sub-commands, e.g. `myoseg dicom import|export`
            app.add_typer(sub_app, name=name, help=short_help)
        else:
            app.command(name=name, short_help=short_help)(module.main)


@app.command()
def version() -> None:
    """Print the myoseg version."""
    from myoseg import __version__

    typer.echo(__version__)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
