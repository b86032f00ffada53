"""Write a simulated dataset: one LabelledSlice .npz per map, ISMRMRD files per subject, a manifest.

Layout: see myoseg.core.data. Subjects are split (train/val/test) by subject, deterministically from the seed;
subject i is generated from SeedSequence([seed, i]) so any subject can be regenerated alone and the result
does not depend on the number of workers.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from myoseg.core.data import LabelledSlice, slice_filename
from myoseg.core.mrdio import write_mrd
from myoseg.sim.subject import SimSubject, simulate_subject, subject_seed

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def subject_name(index: int) -> str:
    return f"sim{index:04d}"


def assign_splits(n: int, seed: int, fractions=SPLIT_FRACTIONS) -> dict[str, list[str]]:
    order = np.random.default_rng([seed, 7919]).permutation(n)
    n_val = int(round(n * fractions[1]))
    n_test = int(round(n * fractions[2]))
    if n >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    n_train = n - n_val - n_test
    names = [subject_name(i) for i in order]
    return {
        "train": sorted(names[:n_train]),
        "val": sorted(names[n_train : n_train + n_val]),
        "test": sorted(names[n_train + n_val :]),
    }


def write_subject(sub: SimSubject, out: Path, split: str, dicom: bool = False) -> None:
    from myoseg.sim.mrd import header_xml, subject_images

    for m in sub.maps:
        LabelledSlice(
            map_ms=m.map_ms, labels=m.labels, spacing_mm=(m.plane.spacing_mm, m.plane.spacing_mm),
            map_type=m.map_type, view=m.view, subject=sub.subject, true_ms=m.true_ms,
            field_strength_t=sub.field_strength_t,
        ).save(out / "slices" / split / slice_filename(sub.subject, m.view, m.map_type))
    maps, labels = subject_images(sub)
    xml = header_xml(sub)
    write_mrd(out / "mrd" / f"{sub.subject}.h5", maps, header_xml=xml)
    write_mrd(out / "mrd" / f"{sub.subject}_labels.h5", labels, header_xml=xml)
    if dicom:
        from myoseg.sim.dicom import write_subject_dicom

        write_subject_dicom(sub, out / "dicom" / sub.subject)


def _job(args: tuple) -> dict:
    index, seed, out, split, dicom, matrix = args
    t0 = time.perf_counter()
    sub = simulate_subject(subject_seed(seed, index), subject_name(index), matrix=matrix)
    write_subject(sub, Path(out), split, dicom)
    info = sub.summary()
    info["split"] = split
    info["seconds"] = round(time.perf_counter() - t0, 3)
    return info


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def generate_dataset(
    out: Path, subjects: int, seed: int = 0, workers: int = 1, dicom: bool = False,
    progress: Callable[[int, int], None] | None = None, matrix: tuple[int, int] | None = None,
    overwrite: bool = False,
) -> dict:
    """Simulate `subjects` subjects into `out`; returns the manifest (also written to out/manifest.json).

    An existing dataset in `out` is refused unless `overwrite`: left-over slices of another run would land in the
    wrong split (a subject of this run's test split could sit in an old train folder). With `overwrite` the
    folders this function writes (slices/, mrd/, dicom/, manifest.json) are removed first, nothing else.
    """
    out = Path(out)
    ours = [out / "slices", out / "mrd", out / "dicom", out / "manifest.json"]
    existing = [p for p in ours if p.exists() and (p.is_file() or any(p.iterdir()))]
    if existing:
        if not overwrite:
            raise FileExistsError(
                f"{out} already holds a dataset ({', '.join(p.name for p in existing)}); "
                "use another folder or --overwrite to replace it"
            )
        for p in existing:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    splits = assign_splits(subjects, seed)
    split_of = {name: split for split, names in splits.items() for name in names}
    jobs = [(i, seed, str(out), split_of[subject_name(i)], dicom, matrix) for i in range(subjects)]
    t0 = time.perf_counter()
    infos: list[dict] = []
    if workers <= 1:
        for job in jobs:
            infos.append(_job(job))
            if progress:
                progress(len(infos), subjects)
    else:
        # spawn, not fork: the caller may run threads (progress bar), and forked threads can deadlock
        # one BLAS thread per worker (the pool is the parallelism); spawned workers read these at import
        for var in _THREAD_VARS:
            os.environ.setdefault(var, "1")
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for info in pool.map(_job, jobs, chunksize=1):
                infos.append(info)
                if progress:
                    progress(len(infos), subjects)
    elapsed = time.perf_counter() - t0
    manifest = {
        "format": "myoseg-sim-1",
        "seed": seed,
        "subjects": [subject_name(i) for i in range(subjects)],
        "splits": splits,
        "views": ["basal", "mid", "apical", "4ch"],
        "map_types": ["T1", "T2"],
        "labels": {"0": "background", "1": "LV cavity", "2": "LV myocardium", "3": "RV"},
        "elapsed_s": round(elapsed, 2),
        "workers": workers,
        "subject_info": sorted(infos, key=lambda d: d["subject"]),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
