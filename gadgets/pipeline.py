"""A whole myoseg pipeline as ONE Gadgetron external module.

    <external>
        <execute name="myoseg.gadgets.pipeline" target="pipeline" type="python"/>
        <configuration>
            <property name="pipeline" value="myoseg_t1t2"/>   <!-- optional; shipped pipeline name -->
            <property name="backend" value="onnxruntime"/>    <!-- any step property, or step.property -->
        </configuration>
    </external>

Gadgetron starts a new Python process per <execute> node and connection. Three nodes (segment, quantify,
emit) mean three interpreters, three imports and meta serialised between them; this target runs the same chain
in one process, which is what the cold-start figure of `myoseg bench` measures.
"""

from __future__ import annotations

import logging
from typing import Any

from myoseg.gadgets.base import StreamContext

from myoseg.stream.chain import ChainRun
from myoseg.stream.external import adapt_connection, items_until_close
from myoseg.stream.pipeline import (
    DEFAULT_PIPELINE,
    PIPELINE_PROPERTY,
    properties_from_config,
    spec_from_properties,
)

log = logging.getLogger("myoseg.gadgets")


def pipeline(connection: Any) -> None:
    """Gadgetron target: run the pipeline named by the `pipeline` property (default myoseg_t1t2)."""
    conn = adapt_connection(connection)
    properties = properties_from_config(conn.config)
    name = properties.get(PIPELINE_PROPERTY, DEFAULT_PIPELINE)
    context = StreamContext(header=conn.header, connection_id=conn.connection_id)
    try:
        run = ChainRun(spec_from_properties(properties), context)
    except Exception as exc:  # noqa: BLE001 - a bad pipeline still returns every map, marked
        message = f"ERROR myoseg pipeline {name!r}: {type(exc).__name__}: {exc}"
        log.error("%s [conn %s]", message, conn.connection_id)
        run = ChainRun(None, context, error=message)
    for item in run.run(items_until_close(conn)):
        conn.send(item)
