"""Pipeline XML: parsed and validated before any image, with file/line in every error; names stay in the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from gadgets_for_tests import TEST_PREFIXES, Tag, pipeline_xml
from myoseg.gadgets.passthrough import PassThrough

from myoseg.stream.pipeline import (
    PipelineError,
    default_pipelines_dir,
    load_pipeline,
    parse_pipeline,
    pipeline_path,
)


def test_shipped_passthrough_pipeline() -> None:
    spec = load_pipeline("passthrough")
    assert [s.gadget_class for s in spec.steps] == [PassThrough]
    assert load_pipeline("passthrough.xml") == spec


def test_shipped_default_pipeline() -> None:
    pytest.importorskip("myoseg.gadgets.segment")
    pytest.importorskip("myoseg.gadgets.quantify")
    pytest.importorskip("myoseg.gadgets.emit")
    spec = load_pipeline("myoseg_t1t2")
    assert [s.target for s in spec.steps] == ["segment", "quantify", "emit"]


def test_every_shipped_pipeline_parses_or_waits_for_its_gadgets() -> None:
    for path in sorted(default_pipelines_dir().glob("*.xml")):
        try:
            load_pipeline(path.stem)
        except PipelineError as exc:
            assert "unknown gadget module" in str(exc), exc  # gadgets of another work stream not in yet


def test_properties_are_typed_and_checked_with_line_numbers() -> None:
    xml = pipeline_xml(("gadgets_for_tests", "tag", {"key": "K", "value": "V"}))
    spec = parse_pipeline(xml, module_prefixes=TEST_PREFIXES)
    assert spec.steps[0].gadget_class is Tag and spec.steps[0].config == Tag.Config(key="K", value="V")
    bad = xml.replace('name="key"', 'name="kye"').replace("</stream>", "\n</stream>")
    with pytest.raises(PipelineError, match=r"<config script>, line \d+: .*unknown property \['kye'\]"):
        parse_pipeline(bad, module_prefixes=TEST_PREFIXES)
    sleepy = pipeline_xml(("gadgets_for_tests", "sleep", {"seconds": "soon"}))
    with pytest.raises(PipelineError, match="seconds"):
        parse_pipeline(sleepy, module_prefixes=TEST_PREFIXES)


@pytest.mark.parametrize(
    ("xml", "match"),
    [
        ("<configuration><version>2</version><stream>", r"line 1: malformed XML"),
        ("<configuration>\n<version>2</version>\n<stream>\n<external>\n</stream></configuration>",
         r"line 5: malformed XML"),
        ("<configuration><version>1</version><stream/></configuration>", "version"),
        ("<gadgetronStreamConfiguration/>", "root element"),
        ("<configuration><version>2</version></configuration>", "no <stream>"),
        ("<configuration><version>2</version><stream/></configuration>", "no steps"),
        ("<configuration><version>2</version><stream>\n<gadget><name>x</name></gadget></stream></configuration>",
         r"line 2: unsupported <gadget>"),
        (pipeline_xml(("myoseg.gadgets.nonexistent", "x")), "unknown gadget module 'myoseg.gadgets.nonexistent'"),
        (pipeline_xml(("myoseg.gadgets.passthrough", "nope")), "has no target 'nope'.*passthrough"),
        (pipeline_xml(("os", "system")), "not allowed"),
        (pipeline_xml(("myoseg.gadgets.passthrough", "PassThroughX")), "no target"),
        (pipeline_xml(("myoseg.gadgets.base", "build")), "not a myoseg gadget"),
        (pipeline_xml(("myoseg.gadgets.passthrough", "passthrough")).replace('type="python"', 'type="matlab"'),
         "only type"),
    ],
)
def test_bad_pipelines_are_named_precisely(xml: str, match: str) -> None:
    with pytest.raises(PipelineError, match=match):
        parse_pipeline(xml)


def test_xml_bomb_and_non_utf8_are_rejected() -> None:
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
            "<configuration><version>&lol2;</version></configuration>")
    with pytest.raises(PipelineError, match="DTDs and entities are not allowed"):
        parse_pipeline(bomb)
    latin = pipeline_xml(("myoseg.gadgets.passthrough", "passthrough")).encode().replace(b"<stream>", b"<stream>\xff\xfe")
    with pytest.raises(PipelineError, match="malformed XML"):
        parse_pipeline(latin)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..", "a/b", "passthrough\0x", "", "~root",
                                  "..\\..\\boot.ini", "x" * 200])
def test_pipeline_names_cannot_leave_the_folder(name: str) -> None:
    with pytest.raises(PipelineError, match="invalid pipeline name"):
        pipeline_path(name, default_pipelines_dir())


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.xml"
    outside.write_text(pipeline_xml(("myoseg.gadgets.passthrough", "passthrough")))
    folder = tmp_path / "pipes"
    folder.mkdir()
    (folder / "evil.xml").symlink_to(outside)
    with pytest.raises(PipelineError, match="no pipeline 'evil'"):
        pipeline_path("evil", folder)


def test_explicit_paths_only_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.xml"
    path.write_text(pipeline_xml(("myoseg.gadgets.passthrough", "passthrough")))
    assert load_pipeline(str(path), allow_path=True).name == "mine"
    with pytest.raises(PipelineError):
        load_pipeline(str(path))


def test_overrides_apply_by_name_or_step() -> None:
    xml = pipeline_xml(("gadgets_for_tests", "tag"), ("gadgets_for_tests", "sleep"))
    spec = parse_pipeline(xml, module_prefixes=TEST_PREFIXES)
    changed = spec.with_overrides({"value": "X", "sleep.seconds": "0.01"})
    assert changed.steps[0].config.value == "X" and changed.steps[1].config.seconds == 0.01
    with pytest.raises(PipelineError, match="no step"):
        spec.with_overrides({"nonsense": "1"})
    with pytest.raises(PipelineError, match="seconds"):
        spec.with_overrides({"seconds": "-x"})


def test_every_property_of_every_shipped_gadget_is_documented() -> None:
    import dataclasses
    import importlib
    import pkgutil

    import myoseg.gadgets
    from myoseg.gadgets.base import Gadget

    readme = (default_pipelines_dir() / "README.md").read_text()
    missing = []
    for info in pkgutil.iter_modules(myoseg.gadgets.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        try:
            module = importlib.import_module(f"myoseg.gadgets.{info.name}")
        except ImportError:  # optional extras (e.g. DICOM) not installed
            continue
        target = getattr(module, info.name, None)
        assert callable(target), f"myoseg.gadgets.{info.name} lacks its target {info.name!r}"
        cls = getattr(target, "gadget_class", None)
        if cls is None:  # a target that is not one gadget (e.g. a whole pipeline in one module)
            continue
        assert isinstance(cls, type) and issubclass(cls, Gadget)
        assert f"target `{info.name}`" in readme, f"gadget {info.name} not documented"
        missing += [f"{info.name}.{f.name}" for f in dataclasses.fields(cls.Config) if f"`{f.name}`" not in readme]
    assert not missing, f"properties not documented in pipelines/README.md: {missing}"
