"""ISMRMRD images and header that look like the output of Gadgetron's CMR mapping chain.

Maps: float32, or uint16 with GADGETRON_ScaleRatio (stored pixel = value_ms * ratio). T1 maps are series 5,
T2 maps series 11 (as Gadgetron's CmrParametricT1/T2 mapping gadgets). Ground-truth masks are uint16 label
images (myoseg.core.types.Label values) with the same slice / image_index / geometry, series 105 / 111.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import ismrmrd
import numpy as np

from myoseg.core import metakeys as mk
from myoseg.core.types import MapType, View
from myoseg.sim.subject import SimMap, SimSubject

SERIES = {MapType.T1: 5, MapType.T2: 11}
LABEL_SERIES_OFFSET = 100
VIEW_ORDER = {View.BASAL: 0, View.MID: 1, View.APICAL: 2, View.FOUR_CH: 3}
WINDOW = {MapType.T1: (1300.0, 1300.0), MapType.T2: (60.0, 120.0)}
WINDOW_POST = (450.0, 700.0)


def _set_geometry(image: ismrmrd.Image, sim_map: SimMap) -> None:
    p = sim_map.plane
    image.field_of_view[:] = [p.cols * p.spacing_mm, p.rows * p.spacing_mm, p.thickness_mm]
    image.position[:] = [float(x) for x in p.centre]
    image.read_dir[:] = [float(x) for x in p.read_dir]
    image.phase_dir[:] = [float(x) for x in p.phase_dir]
    image.slice_dir[:] = [float(x) for x in p.slice_dir]
    image.slice = VIEW_ORDER[sim_map.view]
    image.image_index = VIEW_ORDER[sim_map.view] + 1
    image.image_type = ismrmrd.IMTYPE_MAGNITUDE


def map_image(sim_map: SimMap, subject: SimSubject) -> ismrmrd.Image:
    mt = sim_map.map_type
    if sim_map.storage == "uint16":
        data = np.clip(np.round(sim_map.map_ms * sim_map.scale_ratio), 0, 65535).astype(np.uint16)
    else:
        data = sim_map.map_ms.astype(np.float32)
    image = ismrmrd.Image.from_array(data[None])
    _set_geometry(image, sim_map)
    image.image_series_index = SERIES[mt]
    ratio = sim_map.scale_ratio
    centre, width = WINDOW_POST if (mt is MapType.T1 and subject.contrast) else WINDOW[mt]
    if subject.field_strength_t > 2 and mt is MapType.T1 and not subject.contrast:
        centre, width = 1500.0, 1500.0
    unit = "ms" if ratio == 1.0 else f"x{ratio:g} ms"
    meta = image.meta
    meta[mk.GT_DATA_ROLE] = mt.value
    meta[mk.GT_SCALE_RATIO] = f"{ratio:g}"
    meta[mk.GT_WINDOW_CENTER] = f"{centre * ratio:g}"
    meta[mk.GT_WINDOW_WIDTH] = f"{width * ratio:g}"
    meta[mk.GT_IMAGE_COMMENT] = f"{mt.value} map" if ratio == 1.0 else f"{mt.value} {unit}"
    meta[mk.GT_SERIES_DESCRIPTION] = f"{mt.value}MAP_{'MOLLI' if mt is MapType.T1 else 'T2PREP'}_{sim_map.view.value}"
    meta[mk.GT_IMAGE_PROCESSING_HISTORY] = ["GT", "PMAP", mt.value]
    meta[mk.GT_COLOR_MAP] = "GadgetronT1.pal" if mt is MapType.T1 else "GadgetronT2.pal"
    meta[mk.DATA_ROLE] = "Quantitative"
    # no MYOSEG_View here: a scanner does not send it (the view is in the series description and the geometry)
    return image


def label_image(sim_map: SimMap) -> ismrmrd.Image:
    image = ismrmrd.Image.from_array(sim_map.labels.astype(np.uint16)[None])
    _set_geometry(image, sim_map)
    image.image_series_index = SERIES[sim_map.map_type] + LABEL_SERIES_OFFSET
    image.meta[mk.ROLE] = mk.ROLE_MASK
    image.meta[mk.SOURCE_SERIES] = str(SERIES[sim_map.map_type])
    image.meta[mk.MAP_TYPE] = sim_map.map_type.value
    image.meta[mk.VIEW] = sim_map.view.value
    image.meta[mk.GT_IMAGE_COMMENT] = "ground truth labels 0 bg 1 LV cavity 2 myocardium 3 RV"
    return image


def header_xml(subject: SimSubject, map_type: MapType | None = None) -> str:
    """A valid ISMRMRD header (ismrmrd.xsd) with field strength, protocol name and non-empty encoding limits."""
    p = subject.maps[0].plane
    n_slices = len({m.view for m in subject.maps})
    fs = subject.field_strength_t
    proto = {MapType.T1: subject.molli.name, MapType.T2: "T2-prep bSSFP 0/25/55 ms"}
    name = proto[map_type] if map_type else f"{subject.molli.name} + T2-prep bSSFP"
    ro = subject.molli.readout
    tis = "".join(
        f"<TI>{t:.1f}</TI>" for t in sorted(subject.molli.ti_first_ms + g * subject.molli.ti_step_ms
                                            for g in range(len(subject.molli.scheme)))
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" xsi:schemaLocation="http://www.ismrm.org/ISMRMRD ismrmrd.xsd">
  <subjectInformation><patientID>{escape(subject.subject)}</patientID></subjectInformation>
  <measurementInformation>
    <measurementID>{escape(subject.subject)}_{subject.seed}</measurementID>
    <patientPosition>HFS</patientPosition>
    <protocolName>{escape(name)}</protocolName>
    <seriesDescription>myoseg simulated cardiac mapping</seriesDescription>
  </measurementInformation>
  <acquisitionSystemInformation>
    <systemVendor>myoseg-sim</systemVendor>
    <systemModel>physics simulator</systemModel>
    <systemFieldStrength_T>{fs:g}</systemFieldStrength_T>
    <receiverChannels>1</receiverChannels>
    <institutionName>simulation</institutionName>
  </acquisitionSystemInformation>
  <experimentalConditions><H1resonanceFrequency_Hz>{int(round(42.577478e6 * fs))}</H1resonanceFrequency_Hz></experimentalConditions>
  <encoding>
    <encodedSpace>
      <matrixSize><x>{p.cols}</x><y>{p.rows}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>{p.cols * p.spacing_mm:.3f}</x><y>{p.rows * p.spacing_mm:.3f}</y><z>{p.thickness_mm:g}</z></fieldOfView_mm>
    </encodedSpace>
    <reconSpace>
      <matrixSize><x>{p.cols}</x><y>{p.rows}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>{p.cols * p.spacing_mm:.3f}</x><y>{p.rows * p.spacing_mm:.3f}</y><z>{p.thickness_mm:g}</z></fieldOfView_mm>
    </reconSpace>
    <encodingLimits>
      <kspace_encoding_step_1><minimum>0</minimum><maximum>{p.rows - 1}</maximum><center>{p.rows // 2}</center></kspace_encoding_step_1>
      <slice><minimum>0</minimum><maximum>{max(n_slices - 1, 0)}</maximum><center>0</center></slice>
      <set><minimum>0</minimum><maximum>{sum(subject.molli.scheme) - 1}</maximum><center>0</center></set>
    </encodingLimits>
    <trajectory>cartesian</trajectory>
  </encoding>
  <sequenceParameters>
    <TR>{ro.tr_ms:.3f}</TR>
    <TE>{ro.tr_ms / 2:.3f}</TE>
    {tis}
    <flipAngle_deg>{ro.flip_deg:.1f}</flipAngle_deg>
    <sequence_type>TrueFISP</sequence_type>
  </sequenceParameters>
</ismrmrdHeader>
"""


def subject_images(subject: SimSubject) -> tuple[list[ismrmrd.Image], list[ismrmrd.Image]]:
    """(map images, label images) in stream order: T1 maps by slice, then T2 maps."""
    ordered = sorted(subject.maps, key=lambda m: (SERIES[m.map_type], VIEW_ORDER[m.view]))
    return [map_image(m, subject) for m in ordered], [label_image(m) for m in ordered]
