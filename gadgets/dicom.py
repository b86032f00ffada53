"""`DicomWriter`: write each study's maps, SEG and SR as DICOM files to a folder, passing everything through.

    <external>
      <execute name="myoseg.gadgets.dicom" target="dicom" type="python"/>
      <configuration>
        <property name="folder" value="/data/myoseg_dicom"/>
      </configuration>
    </external>

Put it last in a pipeline (after emit), so that it sees the final meta. Every item goes downstream at once and
unchanged; the gadget keeps a serialised copy of each map, mask and overlay image and, when the stream ends
(one stream = one study), writes the same files as `myoseg dicom export` into FOLDER/<timestamp>_<id>/
(no patient identifiers in folder names or logs). A failure to write is logged and reported as an ERROR text
(server mode); it never holds back or changes an image.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import ismrmrd
from myoseg.gadgets.base import Gadget, GadgetConfig, Item, StreamContext, TextMessage

from myoseg.core import metakeys as mk
from myoseg.stream.external import gadgetron_target

log = logging.getLogger("myoseg.dicom")


@dataclass(frozen=True)
class DicomWriterConfig(GadgetConfig):
    folder: str = ""  # required: where the per-study folders go (created if missing)
    write_sr: bool = True  # TID 1500 Structured Report of the values
    write_overlays: bool = True  # overlay series as Secondary Capture
    max_images: int = 2000  # per study; beyond this images still pass but are not written (bounded memory)

    def __post_init__(self) -> None:
        if not self.folder.strip():
            raise ValueError("property 'folder' is required (the output folder for DICOM files)")
        if self.max_images < 1:
            raise ValueError("max_images must be >= 1")


def _header_xml(header: object) -> str | None:
    if header is None:
        return None
    if isinstance(header, bytes):
        return header.decode("utf-8", errors="replace")
    if isinstance(header, str):
        return header
    try:
        from ismrmrd import xsd

        xml = xsd.ToXML(header)
        return xml.decode("utf-8") if isinstance(xml, bytes) else str(xml)
    except Exception:  # noqa: BLE001 - no header only means synthetic study UIDs
        return None


def _wanted(image: ismrmrd.Image) -> bool:
    try:
        role = image.meta[mk.ROLE]
    except KeyError:
        role = None
    if role in (mk.ROLE_MASK, mk.ROLE_OVERLAY):
        return True
    for key in (mk.MAP_TYPE, mk.GT_DATA_ROLE):
        try:
            if str(image.meta[key]).upper() in ("T1", "T2"):
                return True
        except KeyError:
            continue
    return False


class DicomWriter(Gadget):
    Config = DicomWriterConfig
    name = "dicom"

    def __init__(self, config: GadgetConfig, context: StreamContext) -> None:
        super().__init__(config, context)
        self.cfg: DicomWriterConfig = config  # type: ignore[assignment]
        self.copies: list[ismrmrd.Image] = []
        self.dropped = 0

    def handle(self, item: Item) -> Iterable[Item]:
        if isinstance(item, ismrmrd.Image) and _wanted(item):
            if len(self.copies) < self.cfg.max_images:
                # a serialised copy: what we write must not depend on what happens to the item downstream
                self.copies.append(ismrmrd.Image.from_bytes(item.to_bytes()))
            else:
                self.dropped += 1
        yield item

    def close(self) -> Iterable[Item]:
        if not self.copies:
            return ()
        from myoseg.dicomio.export import export_images

        stamp = _dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        out_dir = Path(self.cfg.folder) / f"{stamp}_{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        try:
            files = export_images(self.copies, _header_xml(self.context.header), out_dir,
                                  write_sr=self.cfg.write_sr, write_overlays=self.cfg.write_overlays)
        except Exception as exc:  # noqa: BLE001 - writing DICOM must never cost an image
            message = f"ERROR myoseg dicom: could not write DICOM to {out_dir}: {type(exc).__name__}: {exc}"
            log.error("%s [conn %s]", message[:500], self.context.connection_id)
            return (TextMessage(message[:500]),)
        finally:
            self.copies = []
        self.context.record(self.name + "_write", (time.perf_counter() - started) * 1e3)
        log.info("[conn %s] DICOM: %d file(s) -> %s%s", self.context.connection_id, len(files), out_dir,
                 f" ({self.dropped} image(s) over max_images not written)" if self.dropped else "")
        return ()


# Gadgetron target: <execute name="myoseg.gadgets.dicom" target="dicom" type="python"/>
dicom = gadgetron_target(DicomWriter)
