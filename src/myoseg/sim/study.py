"""A whole simulated study for demos and benchmarks: 3 SAX + 1 4Ch, T1 and T2, as the scanner would send it."""

from __future__ import annotations

from pathlib import Path

import ismrmrd

from myoseg.core.mrdio import write_mrd
from myoseg.core.types import MapType
from myoseg.sim.mrd import header_xml, subject_images
from myoseg.sim.subject import SimSubject, simulate_subject


def simulate_study(
    seed: int = 0, subject: str = "study", matrix: tuple[int, int] | None = None,
    field_strength_t: float | None = None, contrast: bool | None = False, storage: str | None = None,
) -> tuple[list[ismrmrd.Image], str, list[ismrmrd.Image]]:
    """(map images, MRD XML header, ground-truth label images) of one subject.

    Maps: T1 (series 5) then T2 (series 11), slices basal/mid/apical/4ch = slice 0..3. Label images carry the
    same slice / image_index / geometry (series 105 / 111). `contrast=None` draws native/post at random.
    """
    sub = study_subject(seed, subject, matrix, field_strength_t, contrast, storage)
    maps, labels = subject_images(sub)
    return maps, header_xml(sub), labels


def study_subject(seed: int = 0, subject: str = "study", matrix=None, field_strength_t=None, contrast=False,
                  storage=None) -> SimSubject:
    return simulate_subject(seed, subject, map_types=(MapType.T1, MapType.T2), matrix=matrix,
                            field_strength_t=field_strength_t, contrast=contrast, storage=storage)


def labels_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + "_labels" + path.suffix)


def write_study(path: Path, seed: int = 0, **kwargs) -> int:
    """Write the study's maps to `path` and its labels to `<stem>_labels.h5`; returns the map image count."""
    maps, xml, labels = simulate_study(seed, **kwargs)
    n = write_mrd(Path(path), maps, header_xml=xml)
    write_mrd(labels_path(path), labels, header_xml=xml)
    return n
