"""`myoseg serve`: the warm MRD streaming server (FIRE / gadgetron_ismrmrd_client protocol, Gadgetron <connect>)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    host: Annotated[str, typer.Option(help="Interface to bind. Anything but loopback is reachable from other "
                                           "machines and logs a warning; combine with --allow.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 9002,
    pipelines: Annotated[Path | None, typer.Option(
        "--pipelines", help="Folder that clients' config names are looked up in (default: the shipped "
                            "pipelines/). Clients can never name a file outside it.")] = None,
    default_pipeline: Annotated[str, typer.Option(
        help="Pipeline for clients that send no config, and for --gadgetron-connect (name, or a .xml path).")
    ] = "myoseg_t1t2",
    gadgetron_connect: Annotated[bool, typer.Option(
        "--gadgetron-connect", help="Serve Gadgetron's <external><connect port=.../> node: each connection "
                                    "sends CONFIG (the node's <property> items, used as overrides; property "
                                    "'pipeline' picks the pipeline) and HEADER, then data.")] = False,
    allow: Annotated[list[str] | None, typer.Option(
        help="Client address or network allowed to connect (repeatable), e.g. --allow 10.1.2.0/24. "
             "Default: anyone who can reach the port.")] = None,
    read_timeout: Annotated[float, typer.Option(help="Seconds a client may stall inside one message.")] = 30.0,
    idle_timeout: Annotated[float, typer.Option(help="Seconds a client may stay silent between messages.")] = 300.0,
    max_connections: Annotated[int, typer.Option(help="Concurrent connections; more are answered 'busy'.")] = 32,
    drain_timeout: Annotated[float, typer.Option(help="On SIGTERM: seconds in-flight scans get to finish.")] = 60.0,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve TLS instead of plain TCP "
                                                       "(standard mode; Gadgetron's <connect> speaks plain TCP).")
                        ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert (if not in the same file).")
                       ] = None,
    tls_client_ca: Annotated[Path | None, typer.Option(help="Require client certificates signed by this CA "
                                                            "(mutual TLS).")] = None,
    warmup: Annotated[bool, typer.Option(help="Validate the default pipeline and load its model at start-up, "
                                              "so the first scan does not pay for it.")] = True,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Run the warm MRD v1 server: many concurrent, isolated connections; the model loaded once per process.

    Clients send a pipeline by name (message 1; looked up in --pipelines, with or without .xml) or as XML
    (message 2), then the MRD header, images/acquisitions and CLOSE; every item comes back (maps unchanged,
    with results in their meta, plus mask/overlay series) followed by CLOSE. Errors arrive as "ERROR ..."
    text messages; the maps still come back. SIGTERM stops accepting and lets in-flight scans finish.

    Example: myoseg serve --port 9002   then   myoseg replay study.h5 -o out.h5 --server 127.0.0.1:9002
    """
    import logging
    import signal

    from myoseg.stream.pipeline import PipelineError, default_pipelines_dir
    from myoseg.stream.server import MrdServer, ServerSettings

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ServerSettings(
        host=host, port=port, pipelines_dir=(pipelines or default_pipelines_dir()).resolve(),
        default_pipeline=default_pipeline, gadgetron_connect=gadgetron_connect, allow=tuple(allow or ()),
        read_timeout=read_timeout, idle_timeout=idle_timeout, max_connections=max_connections,
        drain_timeout=drain_timeout, tls_cert=tls_cert, tls_key=tls_key, tls_client_ca=tls_client_ca,
    )
    try:
        server = MrdServer(settings)
    except (OSError, ValueError) as exc:  # unreadable certificate, bad --allow network, ...
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if warmup:
        try:
            server.warm_up()
        except PipelineError as exc:
            typer.echo(f"error: default pipeline: {exc}", err=True)
            raise typer.Exit(2) from None
        except Exception as exc:  # noqa: BLE001 - serve anyway: the maps still come back, marked
            logging.getLogger("myoseg.serve").error("warm-up failed (%s: %s); serving anyway",
                                                    type(exc).__name__, exc)
    try:
        server.bind()
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None

    def _stop(signum: int, _frame: object) -> None:
        logging.getLogger("myoseg.serve").info("%s: no new connections; draining", signal.Signals(signum).name)
        server.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.serve_forever()
    cut = server.stop()
    raise typer.Exit(1 if cut else 0)
