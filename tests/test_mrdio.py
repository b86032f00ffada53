from __future__ import annotations

from pathlib import Path

import h5py
import ismrmrd
import numpy as np

from myoseg.core.mrdio import read_mrd, write_mrd


def test_roundtrip_keeps_meta_and_attribute_length(tmp_path: Path) -> None:
    image = ismrmrd.Image.from_array(np.arange(12, dtype=np.uint16).reshape(1, 3, 4))
    image.image_series_index = 5
    image.slice = 2
    image.meta["GADGETRON_DataRole"] = "T1"
    image.meta["GADGETRON_ScaleRatio"] = "1.0"
    path = tmp_path / "x.h5"
    write_mrd(path, [image], header_xml="<ismrmrdHeader/>")
    with h5py.File(path, "r") as f:
        stored = f["dataset/image_5/header"][0]["attribute_string_len"]
    assert stored == len(image.attribute_string.encode())
    back = read_mrd(path)
    assert back.header_xml == "<ismrmrdHeader/>"
    (im,) = back.images
    np.testing.assert_array_equal(im.data, image.data)
    assert im.meta["GADGETRON_DataRole"] == "T1" and im.slice == 2
