"""Gadgetron v2 stream XML -> a frozen, validated PipelineSpec.

    <configuration>
      <version>2</version>
      <readers>/<writers>  (used by a real Gadgetron; ignored in process)
      <stream>
        <external>
          <execute name="myoseg.gadgets.segment" target="segment" type="python"/>
          <configuration>
            <property name="backend" value="auto"/>
          </configuration>
        </external>
        ...
      </stream>
    </configuration>

Everything is checked before the first image: well-formed XML (defusedxml: no DTD, no entities), the
structure, that each module is importable from an allowed package and its target is a myoseg gadget,
and every property value (parsed by the gadget's typed Config). Errors name the file, the line and what
is wrong. Pipelines by name come only from the pipelines folder; names with path parts are rejected.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from myoseg.gadgets.base import Gadget, GadgetConfig, PropertyError

DEFAULT_PIPELINE = "myoseg_t1t2"
DEFAULT_MODULE_PREFIXES: tuple[str, ...] = ("myoseg.gadgets",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def default_pipelines_dir() -> Path:
    import myoseg.pipelines

    return Path(myoseg.pipelines.__file__).resolve().parent


class PipelineError(ValueError):
    """A pipeline that cannot run: says where (file, line) and what is wrong."""

    def __init__(self, message: str, source: str = "<config script>", line: int | None = None) -> None:
        self.source, self.line, self.detail = source, line, message
        where = f"{source}, line {line}" if line else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class StepSpec:
    module: str
    target: str
    gadget_class: type[Gadget]
    properties: tuple[tuple[str, str], ...]
    config: GadgetConfig
    line: int | None = None

    @property
    def name(self) -> str:
        return self.gadget_class.name


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    source: str
    steps: tuple[StepSpec, ...]

    def with_overrides(self, overrides: Mapping[str, str]) -> PipelineSpec:
        """Apply properties from outside (e.g. Gadgetron's <connect> node): `prop` sets it on every step
        whose gadget has it, `step.prop` on that step only (step = gadget name or target). Unknown -> error."""
        if not overrides:
            return self
        per_step: list[dict[str, str]] = [dict(step.properties) for step in self.steps]
        for key, value in overrides.items():
            step_name, _, prop = key.rpartition(".")
            hits = 0
            for i, step in enumerate(self.steps):
                if step_name and step_name not in (step.name, step.target):
                    continue
                if prop in {f.name for f in dataclasses.fields(step.gadget_class.Config)}:
                    per_step[i][prop] = value
                    hits += 1
            if not hits:
                raise PipelineError(f"override {key!r}: no step of pipeline {self.name!r} has that property "
                                    f"(steps: {[s.name for s in self.steps]})", "<overrides>")
        steps = tuple(_make_step(s.module, s.target, s.gadget_class, p, "<overrides>", None)
                      for s, p in zip(self.steps, per_step, strict=True))
        return dataclasses.replace(self, steps=steps)


# --- XML with line numbers ------------------------------------------------------------------------
class _LineElement(ET.Element):
    sourceline: int | None = None


class _LineBuilder(ET.TreeBuilder):
    def __init__(self) -> None:
        super().__init__(element_factory=_LineElement)
        self.parser: Any = None

    def start(self, tag: Any, attrs: Any) -> Any:
        element: Any = super().start(tag, attrs)
        element.sourceline = self.parser.parser.CurrentLineNumber if self.parser is not None else None
        return element


def _parse_xml(raw: bytes, source: str) -> _LineElement:
    builder = _LineBuilder()
    parser = SafeET.DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.parser = parser
    try:
        parser.feed(raw)
        root: _LineElement = parser.close()
        return root
    except SafeET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise PipelineError(f"malformed XML: {exc}", source, line) from None
    except DefusedXmlException as exc:
        line = getattr(getattr(parser, "parser", None), "CurrentLineNumber", None)
        raise PipelineError(f"forbidden XML construct ({type(exc).__name__}): DTDs and entities are not "
                            "allowed in pipelines", source, line) from None


def _line(element: Any) -> int | None:
    return getattr(element, "sourceline", None)


# --- gadget lookup --------------------------------------------------------------------------------
def resolve_gadget(module: str, target: str, *, source: str = "<config script>", line: int | None = None,
                   module_prefixes: Iterable[str] = DEFAULT_MODULE_PREFIXES) -> type[Gadget]:
    """(module, target) of an <execute> -> the Gadget class behind it (`target.gadget_class`)."""
    prefixes = tuple(module_prefixes)
    if not _MODULE.match(module) or not any(module == p or module.startswith(p + ".") for p in prefixes):
        raise PipelineError(f"gadget module {module!r} is not allowed (allowed packages: {list(prefixes)})",
                            source, line)
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise PipelineError(f"unknown gadget module {module!r} ({exc})", source, line) from None
    except Exception as exc:  # noqa: BLE001 - a module that fails on import is a pipeline error too
        raise PipelineError(f"gadget module {module!r} failed to import: {type(exc).__name__}: {exc}",
                            source, line) from None
    obj = getattr(mod, target, None)
    if obj is None:
        targets = sorted(n for n, v in vars(mod).items() if hasattr(v, "gadget_class"))
        raise PipelineError(f"module {module!r} has no target {target!r} (targets: {targets})", source, line)
    cls = getattr(obj, "gadget_class", obj)
    if not (isinstance(cls, type) and issubclass(cls, Gadget)):
        raise PipelineError(f"{module}.{target} is not a myoseg gadget target", source, line)
    return cls


def _make_step(module: str, target: str, cls: type[Gadget], properties: Mapping[str, str], source: str,
               line: int | None) -> StepSpec:
    try:
        config = cls.Config.from_properties(properties, gadget=cls.name)
    except PropertyError as exc:
        raise PipelineError(str(exc), source, line) from None
    return StepSpec(module, target, cls, tuple(properties.items()), config, line)


# --- parsing --------------------------------------------------------------------------------------
def parse_pipeline(raw: bytes | str, *, source: str = "<config script>", name: str | None = None,
                   module_prefixes: Iterable[str] = DEFAULT_MODULE_PREFIXES) -> PipelineSpec:
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    root = _parse_xml(raw, source)
    if root.tag != "configuration":
        raise PipelineError(f"root element is <{root.tag}>, expected <configuration>", source, _line(root))
    version = root.find("version")
    if version is None or (version.text or "").strip() != "2":
        raise PipelineError("expected <version>2</version> (Gadgetron v2 stream configuration)", source,
                            _line(version if version is not None else root))
    stream = root.find("stream")
    if stream is None:
        raise PipelineError("no <stream> element", source, _line(root))
    steps: list[StepSpec] = []
    for node in stream:
        line = _line(node)
        if node.tag != "external":
            raise PipelineError(f"unsupported <{node.tag}> in <stream>: the in-process chain runs Python "
                                "<external><execute .../></external> steps only", source, line)
        if node.find("connect") is not None:
            raise PipelineError("<connect> steps run in a real Gadgetron only; use <execute>", source, line)
        execute = node.find("execute")
        if execute is None:
            raise PipelineError("<external> without <execute name=... target=... type=\"python\"/>", source, line)
        module, target = execute.get("name", "").strip(), execute.get("target", "").strip()
        kind = execute.get("type", "").strip()
        if not module or not target:
            raise PipelineError("<execute> needs both name= (module) and target=", source, _line(execute))
        if kind != "python":
            raise PipelineError(f"<execute type={kind!r}>: only type=\"python\" is supported", source,
                                _line(execute))
        cls = resolve_gadget(module, target, source=source, line=_line(execute), module_prefixes=module_prefixes)
        properties: dict[str, str] = {}
        configuration = node.find("configuration")
        for prop in configuration.findall("property") if configuration is not None else ():
            pname, pvalue = prop.get("name"), prop.get("value")
            if not pname or pvalue is None:
                raise PipelineError("<property> needs name= and value=", source, _line(prop))
            if pname in properties:
                raise PipelineError(f"property {pname!r} given twice", source, _line(prop))
            properties[pname] = pvalue
        steps.append(_make_step(module, target, cls, properties, source, _line(configuration) or line))
    if not steps:
        raise PipelineError("<stream> has no steps", source, _line(stream))
    return PipelineSpec(name=name or Path(source).stem, source=source, steps=tuple(steps))


def pipeline_path(name: str, folder: Path) -> Path:
    """The file of a pipeline given by name (from a client): only plain names inside `folder`."""
    stem = name.strip()
    if stem.endswith(".xml"):
        stem = stem[:-4]
    if not _NAME.match(stem):
        raise PipelineError(f"invalid pipeline name {name[:80]!r}: give a plain name from the pipelines folder "
                            "(letters, digits, '_' and '-'; no paths)", "<config name>")
    folder = Path(folder).resolve()
    path = (folder / f"{stem}.xml").resolve()
    if path.parent != folder or not path.is_file():
        available = sorted(p.stem for p in folder.glob("*.xml"))
        raise PipelineError(f"no pipeline {stem!r} in the pipelines folder (available: {available})",
                            "<config name>")
    return path


def load_pipeline_file(path: Path, *, module_prefixes: Iterable[str] = DEFAULT_MODULE_PREFIXES) -> PipelineSpec:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PipelineError(f"cannot read pipeline: {exc.strerror}", str(path)) from None
    return parse_pipeline(raw, source=str(path), name=path.stem, module_prefixes=module_prefixes)


def is_pipeline_path(text: str) -> bool:
    """Does a command-line --pipeline value name an existing file (rather than a pipeline by name)?"""
    return (Path(text).suffix == ".xml" or "/" in text or "\\" in text) and Path(text).is_file()


def load_pipeline(name_or_path: str | Path, folder: Path | None = None, *, allow_path: bool = False,
                  module_prefixes: Iterable[str] = DEFAULT_MODULE_PREFIXES) -> PipelineSpec:
    """By name from `folder` (default: the shipped pipelines); by explicit path only with allow_path
    (command-line use: a network client can never name a file)."""
    text = str(name_or_path)
    if allow_path and is_pipeline_path(text):
        return load_pipeline_file(Path(text), module_prefixes=module_prefixes)
    return load_pipeline_file(pipeline_path(text, folder or default_pipelines_dir()),
                              module_prefixes=module_prefixes)


PIPELINE_PROPERTY = "pipeline"


def spec_from_properties(properties: Mapping[str, str], folder: Path | None = None, *,
                         default: str = DEFAULT_PIPELINE, trusted_default: bool = False,
                         module_prefixes: Iterable[str] = DEFAULT_MODULE_PREFIXES) -> PipelineSpec:
    """Gadgetron-style configuration -> pipeline: property `pipeline` names it (from the folder; default
    `default`), every other property is an override (`prop` or `step.prop`, see PipelineSpec.with_overrides).
    `trusted_default`: the default came from the command line, so it may be a file path."""
    overrides = dict(properties)
    name = overrides.pop(PIPELINE_PROPERTY, default)
    spec = load_pipeline(name, folder, allow_path=trusted_default and name == default,
                         module_prefixes=module_prefixes)
    return spec.with_overrides(overrides)


def properties_from_config(config: Any) -> dict[str, str]:
    """<configuration><property name= value=/>... (an Element, or None) -> {name: value}."""
    if config is None:
        return {}
    return {p.get("name"): p.get("value", "") for p in config.iter("property") if p.get("name")}
