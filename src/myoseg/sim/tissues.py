"""Tissue classes and their relaxation times per subject (1.5 T / 3 T, native / post-contrast, disease).

Values are TRUE tissue relaxation times. MOLLI underestimates T1 (bSSFP readout, incomplete recovery,
inversion efficiency), so the fitted myocardium lands around the published MOLLI values (950-1000 ms at
1.5 T) from a true T1 of ~1050-1100 ms. Post-contrast T1 follows the extracellular volume relation
R1_tissue,post = R1_tissue,native + ECV / (1 - Hct) * (R1_blood,post - R1_blood,native).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class Tissue(IntEnum):
    AIR = 0
    FAT = 1
    MUSCLE = 2
    LUNG = 3
    LIVER = 4
    SPLEEN = 5
    BLOOD = 6  # atria, great vessels
    LV_BLOOD = 7
    RV_BLOOD = 8
    MYO = 9  # LV myocardium, papillary muscles, trabeculae
    RV_MYO = 10  # RV free wall, atrial walls
    MARROW = 11
    FLUID = 12  # CSF, stomach contents, pericardial fluid
    STOMACH = 13


N_TISSUES = len(Tissue)

# (T1 ms, T2 ms, proton density) at 1.5 T; 3 T values from _T1_3T_FACTOR / _T2_3T_FACTOR.
_BASE_15T: dict[Tissue, tuple[float, float, float]] = {
    Tissue.AIR: (1000.0, 50.0, 0.0),
    Tissue.FAT: (290.0, 85.0, 0.95),
    Tissue.MUSCLE: (1000.0, 38.0, 0.65),
    Tissue.LUNG: (1250.0, 45.0, 0.12),
    Tissue.LIVER: (600.0, 45.0, 0.70),
    Tissue.SPLEEN: (1150.0, 65.0, 0.80),
    Tissue.BLOOD: (1700.0, 240.0, 0.90),
    Tissue.LV_BLOOD: (1700.0, 240.0, 0.90),
    Tissue.RV_BLOOD: (1700.0, 240.0, 0.90),
    Tissue.MYO: (1070.0, 50.0, 0.75),
    Tissue.RV_MYO: (1070.0, 48.0, 0.75),
    Tissue.MARROW: (560.0, 55.0, 0.85),
    Tissue.FLUID: (3500.0, 1200.0, 1.0),
    Tissue.STOMACH: (1100.0, 55.0, 0.6),
}
_T1_3T_FACTOR = {Tissue.FAT: 1.25, Tissue.LIVER: 1.35, Tissue.MARROW: 1.2, Tissue.FLUID: 1.1}
_T2_3T_FACTOR = {Tissue.BLOOD: 0.7, Tissue.LV_BLOOD: 0.7, Tissue.RV_BLOOD: 0.7, Tissue.FLUID: 0.9}
# extracellular volume fraction (for post-contrast T1)
_ECV = {
    Tissue.FAT: 0.05, Tissue.MUSCLE: 0.12, Tissue.LUNG: 0.3, Tissue.LIVER: 0.28, Tissue.SPLEEN: 0.32,
    Tissue.MARROW: 0.1, Tissue.FLUID: 0.0, Tissue.STOMACH: 0.2, Tissue.RV_MYO: 0.26,
}
_BLOOD_TISSUES = (Tissue.BLOOD, Tissue.LV_BLOOD, Tissue.RV_BLOOD)

DISEASES = ("normal", "diffuse_fibrosis", "oedema", "amyloid")


@dataclass
class TissueSet:
    """Per-subject tissue table plus the myocardial lesion and disease description."""

    t1: np.ndarray  # (N_TISSUES,) ms
    t2: np.ndarray
    pd: np.ndarray
    field_strength_t: float
    contrast: bool  # post-contrast T1 (gadolinium)
    disease: str
    lesion_t1: float  # T1 of a focal lesion (ms), used where the lesion weight is 1
    lesion_t2: float
    myo_ecv: float
    info: dict = field(default_factory=dict)


def sample_tissues(rng: np.random.Generator, field_strength_t: float, contrast: bool) -> TissueSet:
    t1 = np.zeros(N_TISSUES)
    t2 = np.zeros(N_TISSUES)
    pd = np.zeros(N_TISSUES)
    high = field_strength_t > 2.0
    for tissue, (b1, b2, bp) in _BASE_15T.items():
        f1 = (_T1_3T_FACTOR.get(tissue, 1.2) if high else 1.0) * rng.normal(1.0, 0.03)
        f2 = (_T2_3T_FACTOR.get(tissue, 0.9) if high else 1.0) * rng.normal(1.0, 0.04)
        t1[tissue], t2[tissue], pd[tissue] = b1 * f1, b2 * f2, bp * rng.normal(1.0, 0.05)
    # one blood pool per subject (haematocrit), slightly different in the atria/vessels (inflow)
    blood_t1 = (1700.0 if not high else 1980.0) * rng.normal(1.0, 0.035)
    blood_t2 = (240.0 if not high else 170.0) * rng.normal(1.0, 0.08)
    for tissue in _BLOOD_TISSUES:
        t1[tissue], t2[tissue] = blood_t1 * rng.normal(1.0, 0.01), blood_t2 * rng.normal(1.0, 0.03)
    myo_t1 = (1080.0 if not high else 1300.0) * rng.normal(1.0, 0.025)
    myo_t2 = (47.0 if not high else 44.0) * rng.normal(1.0, 0.04)

    disease = str(rng.choice(DISEASES, p=[0.62, 0.16, 0.14, 0.08]))
    myo_ecv = rng.uniform(0.22, 0.30)
    if disease == "diffuse_fibrosis":
        myo_t1 *= rng.uniform(1.05, 1.12)
        myo_ecv = rng.uniform(0.31, 0.42)
    elif disease == "oedema":
        myo_t1 *= rng.uniform(1.06, 1.15)
        myo_t2 = rng.uniform(60.0, 75.0) * (0.9 if high else 1.0)
    elif disease == "amyloid":
        myo_t1 *= rng.uniform(1.10, 1.18)
        myo_ecv = rng.uniform(0.40, 0.60)
    t1[Tissue.MYO], t2[Tissue.MYO] = myo_t1, myo_t2
    t1[Tissue.RV_MYO], t2[Tissue.RV_MYO] = myo_t1 * rng.normal(1.0, 0.02), myo_t2 * rng.normal(0.97, 0.03)

    # focal lesion values (the geometry lives in the heart model): acute oedema/infarct or chronic scar
    lesion_kind = str(rng.choice(["oedema", "scar"]))
    if lesion_kind == "oedema":
        lesion_t1, lesion_t2, lesion_ecv = myo_t1 * rng.uniform(1.12, 1.3), rng.uniform(62.0, 80.0), 0.45
    else:
        lesion_t1, lesion_t2, lesion_ecv = myo_t1 * rng.uniform(1.05, 1.18), myo_t2 * rng.uniform(0.95, 1.1), 0.65
    if high:
        lesion_t2 *= 0.9

    if contrast:
        hct = rng.uniform(0.36, 0.46)
        r1_blood_native = 1.0 / blood_t1
        blood_post = rng.uniform(280.0, 430.0) * (1.08 if high else 1.0)
        d_r1_blood = 1.0 / blood_post - r1_blood_native
        for tissue in _BLOOD_TISSUES:
            t1[tissue] = 1.0 / (1.0 / t1[tissue] + d_r1_blood)

        def post(native: float, ecv: float) -> float:
            return 1.0 / (1.0 / native + ecv / (1.0 - hct) * d_r1_blood)

        for tissue, ecv in _ECV.items():
            t1[tissue] = post(t1[tissue], ecv)
        t1[Tissue.MYO] = post(myo_t1, myo_ecv)
        t1[Tissue.RV_MYO] = post(myo_t1, myo_ecv * 1.05)
        lesion_t1 = post(lesion_t1, lesion_ecv)
        # gadolinium also shortens T2 a little
        t2 *= 0.95
        lesion_t2 *= 0.95
    return TissueSet(
        t1=t1, t2=t2, pd=pd, field_strength_t=field_strength_t, contrast=contrast, disease=disease,
        lesion_t1=float(lesion_t1), lesion_t2=float(lesion_t2), myo_ecv=float(myo_ecv),
        info={"lesion_kind": lesion_kind},
    )
