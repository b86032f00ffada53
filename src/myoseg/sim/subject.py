"""One simulated subject: anatomy, tissues, protocol and the fitted T1/T2 maps of every view."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from myoseg.core.types import MapType, View
from myoseg.sim.acquire import AcqParams, acquire_t1, acquire_t2, sample_acq, sample_plane
from myoseg.sim.anatomy import Body, sample_body
from myoseg.sim.signal import MolliProtocol, T2PrepProtocol, sample_molli, sample_t2prep
from myoseg.sim.tissues import TissueSet, sample_tissues
from myoseg.sim.views import MATRICES, SIM_VIEWS, Plane, make_planes


@dataclass
class SimMap:
    map_type: MapType
    view: View
    plane: Plane
    map_ms: np.ndarray  # float32 (rows, cols), as stored (after uint16 quantisation when used)
    true_ms: np.ndarray
    labels: np.ndarray
    storage: str  # "float32" | "uint16"
    scale_ratio: float


@dataclass
class SimSubject:
    subject: str
    seed: int
    field_strength_t: float
    contrast: bool
    body: Body
    tissues: TissueSet
    acq: AcqParams
    molli: MolliProtocol
    t2prep: T2PrepProtocol
    maps: list[SimMap] = field(default_factory=list)

    def summary(self) -> dict:
        h = self.body.heart
        return {
            "subject": self.subject, "seed": self.seed, "field_strength_t": self.field_strength_t,
            "t1_protocol": self.molli.name + (" post-contrast" if self.contrast else " native"),
            "phenotype": h.phenotype, "disease": self.tissues.disease,
            "lesion": None if h.lesion is None else self.tissues.info.get("lesion_kind"),
            "lv_radius_mm": round(h.R, 1), "wall_mm": round(h.t_base, 1), "lv_length_mm": round(h.L, 1),
            "matrix": [self.maps[0].plane.cols, self.maps[0].plane.rows] if self.maps else None,
            "spacing_mm": round(self.maps[0].plane.spacing_mm, 3) if self.maps else None,
            "slice_mm": round(self.maps[0].plane.thickness_mm, 1) if self.maps else None,
            "snr_t1": round(self.acq.snr[MapType.T1], 1), "snr_t2": round(self.acq.snr[MapType.T2], 1),
            "motion_mm": self.acq.motion_mm, "banding": self.acq.banding,
            "true_myo_t1_ms": round(float(self.tissues.t1[9]), 1), "true_myo_t2_ms": round(float(self.tissues.t2[9]), 1),
        }


def subject_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def simulate_subject(seed: int, subject: str = "sim0000", views=SIM_VIEWS, map_types=(MapType.T1, MapType.T2),
                     matrix: tuple[int, int] | None = None, field_strength_t: float | None = None,
                     contrast: bool | None = None, storage: str | None = None) -> SimSubject:
    """Everything about one subject is drawn from `seed`; `matrix` = (cols, rows) overrides the protocol."""
    rng = np.random.default_rng(seed)
    fs = field_strength_t if field_strength_t is not None else float(rng.choice([1.5, 3.0], p=[0.6, 0.4]))
    post = contrast if contrast is not None else bool(rng.random() < 0.25)
    body = sample_body(rng)
    tissues = sample_tissues(rng, fs, post)
    acq = sample_acq(rng, body, fs)
    cols, rows = matrix if matrix is not None else MATRICES[rng.integers(len(MATRICES))]
    fov_x = rng.uniform(300.0, 380.0)
    spacing = float(np.clip(fov_x / cols, 1.2, 2.0))
    thickness = float(rng.choice([6.0, 7.0, 8.0], p=[0.3, 0.2, 0.5]))
    molli = sample_molli(rng, post, rows)
    t2p = sample_t2prep(rng, rows)
    planes = [p for p in make_planes(body.heart, rng, cols, rows, spacing, thickness) if p.view in views]
    storage_of = {mt: str(rng.choice(["float32", "uint16"])) for mt in MapType}
    if storage is not None:
        if storage not in ("float32", "uint16"):
            raise ValueError(f"storage must be 'float32' or 'uint16', not {storage!r}")
        storage_of = {mt: storage for mt in MapType}
    t1_ratio = float(rng.choice([1.0, 10.0]))
    ratio = {MapType.T1: t1_ratio if storage_of[MapType.T1] == "uint16" else 1.0,
             MapType.T2: 10.0 if storage_of[MapType.T2] == "uint16" else 1.0}
    out = SimSubject(subject, seed, fs, post, body, tissues, acq, molli, t2p)
    for plane in planes:
        truth = sample_plane(body, tissues, plane, acq, rng)
        for mt in map_types:
            if mt is MapType.T1:
                values, _, _ = acquire_t1(truth, plane, acq, molli, rng)
                true = truth.t1
            else:
                values, _ = acquire_t2(truth, plane, acq, t2p, rng)
                true = truth.t2
            if storage_of[mt] == "uint16":
                values = np.clip(np.round(values * ratio[mt]), 0, 65535) / ratio[mt]
            out.maps.append(SimMap(mt, plane.view, plane, values.astype(np.float32), true.astype(np.float32),
                                   truth.labels, storage_of[mt], ratio[mt]))
    return out
