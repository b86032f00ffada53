"""What every myoseg gadget is: a typed config parsed once, and a per-item `handle` step.

A gadget never sees a socket. The stream layer (myoseg.stream) feeds it items and sends what it yields,
in process (myoseg serve / replay) or under a real Gadgetron as an <external><execute> module
(see `gadgetron_target`). `run_gadget` enforces the pass-through guarantee: whatever a gadget raises,
the item it was handling and everything it was holding go on downstream, in order, with the error
attached to each image's meta and reported once as a FIRE-style "ERROR ..." text message.
"""

from __future__ import annotations

import abc
import concurrent.futures
import dataclasses
import logging
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, ParamSpec, TypeAlias, TypeVar, get_type_hints

import ismrmrd

from myoseg.core import metakeys as mk

log = logging.getLogger("myoseg.gadgets")


@dataclass(frozen=True)
class TextMessage:
    """MRD text message (id 5). FIRE convention: errors start with 'ERROR'."""

    text: str


Item: TypeAlias = ismrmrd.Image | ismrmrd.Acquisition | ismrmrd.Waveform | TextMessage


class PropertyError(ValueError):
    """A pipeline <property> has a bad name or value. Raised before any image is processed."""


C = TypeVar("C", bound="GadgetConfig")


@dataclass(frozen=True)
class GadgetConfig:
    """Base of every gadget's frozen config. Fields map 1:1 to <property name=... value=.../>.

    Field types drive parsing: bool, int, float, str, Enum subclasses and `X | None`.
    Unknown property names are errors (a typo must not silently fall back to a default).
    """

    @classmethod
    def from_properties(cls: type[C], properties: Mapping[str, str], gadget: str = "") -> C:
        hints = get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        where = f"gadget {gadget!r}: " if gadget else ""
        unknown = sorted(set(properties) - set(fields))
        if unknown:
            raise PropertyError(f"{where}unknown propert{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                                f"known: {sorted(fields)}")
        values: dict[str, Any] = {}
        for name, raw in properties.items():
            try:
                values[name] = _parse_value(hints[name], raw)
            except (ValueError, TypeError) as exc:
                raise PropertyError(f"{where}property {name!r}={raw!r}: {exc}") from None
        try:
            config = cls(**values)
        except (ValueError, TypeError) as exc:
            raise PropertyError(f"{where}{exc}") from None
        return config


def _parse_value(kind: Any, raw: str) -> Any:
    text = raw.strip()
    args = getattr(kind, "__args__", None)
    if args and type(None) in args:  # Optional[X]
        if text.lower() in ("", "none", "null"):
            return None
        kind = next(a for a in args if a is not type(None))
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true/false")
    if kind is int:
        return int(text)
    if kind is float:
        value = float(text)
        if value != value:  # NaN
            raise ValueError("NaN is not allowed")
        return value
    if isinstance(kind, type) and issubclass(kind, Enum):
        parse = getattr(kind, "parse", None)
        if parse is not None:
            return parse(text)
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"expected one of {[m.value for m in kind]}") from None
    if kind is str:
        return text
    raise TypeError(f"unsupported property type {kind!r}")


@dataclass
class StreamContext:
    """Per-connection facts a gadget may use: the MRD header and a place for stage timings."""

    header: Any = None  # ismrmrd.xsd.ismrmrdHeader, or None when the stream had no parsable header
    connection_id: str = "-"
    timings_ms: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def record(self, stage: str, ms: float) -> None:
        self.timings_ms.setdefault(stage, []).append(ms)


class Gadget(abc.ABC):
    """One step of a pipeline. Subclasses set `Config` and implement `handle`."""

    Config: ClassVar[type[GadgetConfig]] = GadgetConfig
    name: ClassVar[str] = "gadget"

    def __init__(self, config: GadgetConfig, context: StreamContext) -> None:
        self.config = config
        self.context = context

    @abc.abstractmethod
    def handle(self, item: Item) -> Iterable[Item]:
        """Yield what goes downstream for this item (the item itself, usually first)."""

    def close(self) -> Iterable[Item]:
        """End of stream: yield whatever is still held (summaries, buffered maps)."""
        return ()

    def release_held(self) -> list[Item]:
        """After an error: give back, in order, every item received but not yet yielded."""
        return []

    @classmethod  # noqa: B027 - an optional hook, deliberately not abstract
    def warm_up(cls, config: GadgetConfig) -> None:
        """Load, once per process, what the first scan would otherwise wait for (e.g. the model).

        `myoseg serve` calls it at start-up for every step of the default pipeline. Raise to report that the
        step cannot run; the server logs it and keeps serving (the maps still come back, marked).
        """


def mark_error(item: Item, message: str) -> None:
    """Attach an error to an image's meta; pixels and header stay untouched."""
    if isinstance(item, ismrmrd.Image):
        item.meta[mk.STATUS] = mk.STATUS_ERROR
        item.meta[mk.ERROR] = message[:500]


def run_gadget(gadget: Gadget, items: Iterable[Item]) -> Iterator[Item]:
    """Drive one gadget over a stream with the pass-through guarantee (see module docstring)."""
    stage = gadget.name
    for item in items:
        started = time.perf_counter()
        try:
            # Collect before yielding: an exception half-way must not leave half an answer downstream.
            produced = list(gadget.handle(item))
        except Exception as exc:  # noqa: BLE001 - the guarantee: never let one image kill the stream
            # Record before yielding: downstream steps run while we yield, and are not this stage's time.
            gadget.context.record(stage, (time.perf_counter() - started) * 1e3)
            yield from _recover(gadget, stage, exc, [*gadget.release_held(), item])
            continue
        gadget.context.record(stage, (time.perf_counter() - started) * 1e3)
        yield from produced
    try:
        tail = list(gadget.close())
    except Exception as exc:  # noqa: BLE001
        yield from _recover(gadget, stage, exc, gadget.release_held())
        return
    yield from tail


def _recover(gadget: Gadget, stage: str, exc: BaseException, originals: list[Item]) -> Iterator[Item]:
    where = _describe(originals)
    message = f"ERROR myoseg {stage}: {type(exc).__name__}: {exc}{where}"
    log.error("%s [conn %s]\n%s", message, gadget.context.connection_id, traceback.format_exc(limit=6))
    seen: set[int] = set()
    for original in originals:
        if id(original) in seen:
            continue
        seen.add(id(original))
        mark_error(original, message)
        yield original
    yield TextMessage(message)


def _describe(items: list[Item]) -> str:
    images = [i for i in items if isinstance(i, ismrmrd.Image)]
    if not images:
        return ""
    first = images[0]
    return f" (series {first.image_series_index}, slice {first.slice}, image {first.image_index})"


GadgetFactory = Callable[[Mapping[str, str], StreamContext], Gadget]


def build(gadget_cls: type[Gadget], properties: Mapping[str, str], context: StreamContext) -> Gadget:
    """Parse properties (raising PropertyError) and construct the gadget."""
    config = gadget_cls.Config.from_properties(properties, gadget=gadget_cls.name)
    return gadget_cls(config, context)


# --- processing budget (watchdog) ------------------------------------------------------------------------
P = ParamSpec("P")
R = TypeVar("R")
_BUDGET_WORKERS = 4
_budget_pool = concurrent.futures.ThreadPoolExecutor(max_workers=_BUDGET_WORKERS, thread_name_prefix="myoseg-budget")


class BudgetExceeded(TimeoutError):
    """A step took longer than its processing budget (the work may still finish in the background)."""


def call_with_budget(budget_ms: float | None, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run fn(*args, **kwargs), raising BudgetExceeded after budget_ms (None or <= 0: no budget).

    For a gadget's slow, self-contained call (model inference): raise out of `handle` and run_gadget sends
    the original on with the error, and the connection continues. A call that overruns keeps one of a few
    shared worker threads until it returns (Python cannot kill it); later calls that find every worker busy
    wait within their own budget, so the scanner still gets every map back in bounded time.
    """
    if budget_ms is None or budget_ms <= 0:
        return fn(*args, **kwargs)
    future = _budget_pool.submit(fn, *args, **kwargs)
    try:
        return future.result(timeout=budget_ms / 1e3)
    except concurrent.futures.TimeoutError:
        future.cancel()  # drops it if it never started
        raise BudgetExceeded(f"took longer than the processing budget of {budget_ms:.0f} ms") from None
