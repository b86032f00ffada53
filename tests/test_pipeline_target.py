"""gadgets.pipeline: a whole pipeline in ONE external module, launched as Gadgetron does (python -m gadgetron)."""

from __future__ import annotations

import ismrmrd
import numpy as np

from myoseg.bench.cases import Study, cold_start_once
from myoseg.core import metakeys as mk


def _study() -> Study:
    images = []
    for i, dtype in enumerate((np.float32, np.uint16)):
        image = ismrmrd.Image.from_array((np.arange(48).reshape(1, 6, 8) + i).astype(dtype))
        image.image_series_index, image.slice, image.image_index = 5, i, i + 1
        image.meta["GADGETRON_DataRole"] = "T1"
        images.append(image)
    # encodingLimits must be present: the ismrmrd header parser in `python -m gadgetron` requires it.
    header = "<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\"><experimentalConditions><H1resonanceFrequency_Hz>63500000</H1resonanceFrequency_Hz></experimentalConditions><encoding><encodedSpace><matrixSize><x>8</x><y>6</y><z>1</z></matrixSize><fieldOfView_mm><x>8</x><y>6</y><z>8</z></fieldOfView_mm></encodedSpace><reconSpace><matrixSize><x>8</x><y>6</y><z>1</z></matrixSize><fieldOfView_mm><x>8</x><y>6</y><z>8</z></fieldOfView_mm></reconSpace><trajectory>cartesian</trajectory><encodingLimits><slice><minimum>0</minimum><maximum>1</maximum><center>0</center></slice></encodingLimits></encoding></ismrmrdHeader>"
    return Study([im.to_bytes() for im in images], header)


def test_passthrough_pipeline_in_one_external_process() -> None:
    study = _study()
    _, last_ms, errors, returned = cold_start_once(study, {"pipeline": "passthrough"}, timeout_s=60)
    assert errors == 0 and last_ms > 0
    sent = study.images()
    assert len(returned) == len(sent)
    for back, orig in zip(returned, sent, strict=True):
        assert back.data.dtype == orig.data.dtype
        np.testing.assert_array_equal(back.data, orig.data)
        assert back.slice == orig.slice


def test_unknown_pipeline_still_returns_the_maps_marked() -> None:
    study = _study()
    _, _, errors, returned = cold_start_once(study, {"pipeline": "no_such_pipeline"}, timeout_s=60)
    assert len(returned) == 2 and errors == 2
    assert all("no_such_pipeline" in str(im.meta[mk.ERROR]) for im in returned)
