"""The default pipeline with the shipped model on a simulated study: the same contract as with the fake model,
and a sanity check of the segmentation against the simulator's ground truth. Skipped until weights ship."""

from __future__ import annotations

import ismrmrd
import numpy as np
import pytest
from myoseg.gadgets import segment as seg_mod
from test_chain_results import _snap, check_contract

from myoseg.core import metakeys as mk
from myoseg.core.intake import meta_str
from myoseg.core.quality import dice
from myoseg.core.types import Label

segmenter_mod = pytest.importorskip("myoseg.models.segmenter")
if not segmenter_mod.DEFAULT_MODEL.is_file():
    pytest.skip("no shipped model in models/weights yet", allow_module_level=True)


@pytest.mark.slow
def test_shipped_model_on_a_simulated_study() -> None:
    from myoseg.sim.study import simulate_study
    from myoseg.stream.client import run_in_process
    from myoseg.stream.pipeline import load_pipeline

    seg_mod.clear_cache()
    maps, header, truth = simulate_study(seed=11)
    snapshots = _snap(maps)
    result = run_in_process(maps, load_pipeline("myoseg_t1t2"), header)
    check_contract(result.items, maps, snapshots, n_maps=len(maps), fake_model=False)
    masks = [i for i in result.items if isinstance(i, ismrmrd.Image) and meta_str(i.meta, mk.ROLE) == mk.ROLE_MASK]
    scores = []
    for mask in masks:
        gt = [t for t in truth if (t.slice, t.image_index) == (mask.slice, mask.image_index)
              and meta_str(t.meta, mk.SOURCE_SERIES) == meta_str(mask.meta, mk.SOURCE_SERIES)][0]
        scores.append(dice(mask.data[0, 0] == Label.MYOCARDIUM, gt.data[0, 0] == Label.MYOCARDIUM))
    assert np.mean(scores) > 0.7, scores
