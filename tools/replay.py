"""`myoseg replay`: stream an ISMRMRD file through a pipeline (in process or over TCP) and write the results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    input: Annotated[Path, typer.Argument(help="ISMRMRD HDF5 file with maps (images; acquisitions also sent).",
                                          exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where every returned image is written "
                                                                 "(with its meta).")],
    pipeline: Annotated[str, typer.Option(help="Pipeline name from pipelines/, or a path to a pipeline .xml "
                                               "(sent as a script over TCP).")] = "myoseg_t1t2",
    server: Annotated[str | None, typer.Option(help="HOST:PORT of a `myoseg serve`; default: run in process.")
                      ] = None,
    pipelines: Annotated[Path | None, typer.Option("--pipelines", help="Pipelines folder (in process only).")
                         ] = None,
    group: Annotated[str | None, typer.Option(help="HDF5 group in the input (default: the only one).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server.")] = 300.0,
    tls: Annotated[bool, typer.Option("--tls", help="Connect with TLS (verified against the system CAs or "
                                                    "--tls-ca).")] = False,
    tls_ca: Annotated[Path | None, typer.Option(help="CA certificate that signed the server's (implies --tls).")
                      ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Client certificate for mutual TLS (implies --tls).")
                        ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Private key of --tls-cert.")] = None,
    progress: Annotated[bool | None, typer.Option(help="Progress bar (default: when stderr is a terminal).")
                        ] = None,
) -> None:
    """Replay an ISMRMRD file through a pipeline, write all returned images, print a summary per series.

    Example: myoseg replay study.h5 -o out.h5                        (in process, pipeline myoseg_t1t2)
             myoseg replay study.h5 -o out.h5 --server 127.0.0.1:9002 --pipeline passthrough
    Exit code 1 when an error was reported or an image did not come back.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from myoseg.stream.client import client_tls_context, replay_file
    from myoseg.stream.pipeline import PipelineError
    from myoseg.stream.wire import ProtocolError

    console = Console(stderr=True)
    context = client_tls_context(tls_ca, tls_cert, tls_key) if (tls or tls_ca or tls_cert) else None
    show = console.is_terminal if progress is None else progress
    bar = Progress(TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console, disable=not show)
    with bar:
        task = bar.add_task("images", total=None)

        def on_item(item: object) -> None:
            import ismrmrd

            from myoseg.core import metakeys as mk

            if isinstance(item, ismrmrd.Image) and not item.meta.get(mk.ROLE):
                bar.advance(task)

        try:
            report = replay_file(input, output, pipeline=pipeline, server=server, pipelines_dir=pipelines,
                                 group=group, on_item=on_item, timeout=timeout, tls=context,
                                 on_start=lambda n: bar.update(task, total=n))
        except PipelineError as exc:
            console.print(f"[red]pipeline error:[/] {exc}")
            raise typer.Exit(2) from None
        except (ProtocolError, OSError) as exc:
            console.print(f"[red]stream error:[/] {type(exc).__name__}: {exc}")
            raise typer.Exit(2) from None

    result = report.result
    table = Table(title=f"{input.name} -> {output.name}  ({report.pipeline}, {report.where}, "
                        f"{result.seconds:.2f} s)")
    for column in ("series", "images", "kind", "values reported", "mean of MYOSEG_Mean_ms", "errors"):
        table.add_column(column, justify="right" if column != "kind" else "left")
    for row in report.series:
        mean = f"{sum(row.means_ms) / len(row.means_ms):.1f} ms" if row.means_ms else "-"
        table.add_row(str(row.series), str(row.count), ", ".join(sorted(row.roles)), str(row.reported), mean,
                      f"[red]{row.errors}[/]" if row.errors else "0")
    out = Console()
    out.print(table)
    out.print(f"sent {report.sent_images} images + {report.sent_other} other items; got back "
              f"{len(result.images)} images, wrote {report.written} to {output}")
    if result.timings:
        out.print(f"stage medians: {result.timings}")
    for text in result.texts:
        out.print(f"[red]{text}[/]" if text.startswith("ERROR") else text)
    if report.lost_images:
        out.print(f"[red]{report.lost_images} image(s) did not come back[/]")
    if not result.closed:
        out.print("[red]the server did not end with CLOSE[/]")
    if result.errors or report.lost_images or not result.closed:
        raise typer.Exit(1)
