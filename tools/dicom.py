"""`myoseg dicom import|export`: DICOM T1/T2 maps -> ISMRMRD for replay; results -> DICOM MR + SEG + SR for PACS.

Heavy imports (pydicom, highdicom, ismrmrd) happen inside the commands. Patient names/IDs are never printed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="dicom",
    help="DICOM import/export: maps -> ISMRMRD, results -> SEG / SR.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("myoseg.dicom").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("highdicom").setLevel(logging.WARNING)


@app.command("import")
def import_cmd(
    source: Annotated[Path, typer.Argument(help="DICOM file or folder (searched recursively).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="ISMRMRD HDF5 file to write.")],
    map_type: Annotated[
        str | None, typer.Option(help="Force the map type (T1|T2) of every series; default: recognise it.")
    ] = None,
    dtype: Annotated[
        str, typer.Option(help="Stored pixels: auto (uint16 + GADGETRON_ScaleRatio when exact, else float32 ms), "
                               "float32 or uint16.")
    ] = "auto",
    keep_patient: Annotated[
        bool, typer.Option(help="Copy patient name/ID into the MRD header (default: leave them out).")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each series.")] = False,
) -> None:
    """Import DICOM T1/T2 map series (classic or Enhanced MR) into an ISMRMRD file for `myoseg replay`.

    Geometry (PixelSpacing, ImagePositionPatient, ImageOrientationPatient, SliceThickness) and value scaling
    (RescaleSlope/Intercept or a Real World Value Mapping in ms) are kept; T1 maps become MRD series 5,
    T2 maps series 11, as Gadgetron's CMR mapping chain writes them.
    """
    _setup_logging(verbose)
    from myoseg.dicomio.reader import DicomImportError, import_dicom

    try:
        count, series = import_dicom(source, output, map_type=map_type, dtype=dtype, keep_patient=keep_patient)
    except (DicomImportError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for s in series:
        typer.echo(f"  {s.map_type.value} map: MRD series {s.series_index}, {len(s.frames)} image(s), "
                   f"{s.frames[0].geometry.rows}x{s.frames[0].geometry.cols} "
                   f"@ {s.frames[0].geometry.spacing_mm[0]:.3g}x{s.frames[0].geometry.spacing_mm[1]:.3g} mm")
    typer.echo(f"wrote {count} image(s) to {output}")


@app.command("export")
def export_cmd(
    result: Annotated[Path, typer.Argument(help="ISMRMRD file written by `myoseg replay` (maps + masks + meta).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the DICOM files.")],
    sr: Annotated[bool, typer.Option(help="Write the TID 1500 Structured Report of the values.")] = True,
    overlays: Annotated[bool, typer.Option(help="Write overlay series as Secondary Capture.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Export maps (MR), masks (DICOM SEG) and values (Structured Report) of a myoseg result for PACS."""
    _setup_logging(verbose)
    from myoseg.dicomio.export import DicomExportError, export_results

    try:
        files = export_results(result, output, write_sr=sr, write_overlays=overlays)
    except (DicomExportError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    kinds: dict[str, int] = {}
    for f in files:
        kinds[f.name.split("_")[0].removesuffix(".dcm")] = kinds.get(f.name.split("_")[0].removesuffix(".dcm"), 0) + 1
    typer.echo(f"wrote {len(files)} file(s) to {output}: " + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())))


def main() -> None:  # `python -m myoseg.tools.dicom`
    app()


if __name__ == "__main__":
    main()
