"""From anatomy to fitted maps: partial volume, k-space sampling, noise, shading, motion, banding, fitting.

Per plane: the anatomy is sampled on a 2x finer in-plane grid at 3 depths through the slice (slice profile
weights), the signals of every inversion / T2-prep image are computed there and averaged through the slice
(through-plane partial volume), multiplied by coil shading, Fourier transformed and cropped to the
acquisition matrix (in-plane partial volume and Gibbs ringing), reduced phase resolution and partial
Fourier zero-fill blur the phase direction, each image gets its own residual motion (phase ramp), then
complex Gaussian noise and the magnitude (Rician). The maps come from the same fits a scanner uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from myoseg.core.types import MapType
from myoseg.sim.anatomy import Body, evaluate
from myoseg.sim.fields import SmoothField, on_grid
from myoseg.sim.signal import (
    MolliProtocol,
    T2PrepProtocol,
    fit_molli,
    fit_t2,
    molli_signal,
    t2prep_signal,
)
from myoseg.sim.tissues import Tissue, TissueSet
from myoseg.sim.views import Plane, plane_points

OVERSAMPLE = 2
SLICE_OFFSETS = np.array([-1.0 / 3.0, 0.0, 1.0 / 3.0])  # x thickness
SLICE_WEIGHTS = np.array([0.28, 0.44, 0.28])
# relative texture amplitude per tissue (smooth within-tissue variation)
_TEXTURE = np.zeros(len(Tissue), dtype=np.float32)
for _t, _a in {
    Tissue.FAT: 0.06, Tissue.MUSCLE: 0.04, Tissue.LUNG: 0.15, Tissue.LIVER: 0.04, Tissue.SPLEEN: 0.04,
    Tissue.MYO: 0.02, Tissue.RV_MYO: 0.03, Tissue.BLOOD: 0.02, Tissue.LV_BLOOD: 0.012, Tissue.RV_BLOOD: 0.015,
    Tissue.MARROW: 0.05, Tissue.STOMACH: 0.1, Tissue.FLUID: 0.05,
}.items():
    _TEXTURE[_t] = _a


@dataclass
class AcqParams:
    """Per-subject acquisition choices (shared by all views of one subject)."""

    snr: dict[MapType, float]  # myocardium signal / noise sigma in the fully relaxed image
    phase_res: float  # fraction of phase lines acquired (before zero-fill interpolation)
    partial_fourier: float
    motion_mm: float  # RMS residual in-plane shift per image after motion correction
    banding: bool
    mask_background: bool
    flip_field: SmoothField
    flip_amplitude: float
    coil_centres: np.ndarray  # (k, 3) patient mm
    coil_width: float
    info: dict = field(default_factory=dict)


def sample_acq(rng: np.random.Generator, body: Body, field_strength_t: float) -> AcqParams:
    ax, ay = body.ax, body.ay
    n_coils = 8
    xs = rng.uniform(-ax * 0.8, ax * 0.8, n_coils)
    ys = np.where(np.arange(n_coils) % 2 == 0, -ay - 25.0, ay + 25.0)
    zs = rng.uniform(-80.0, 40.0, n_coils)
    return AcqParams(
        snr={MapType.T1: float(rng.uniform(12.0, 60.0)), MapType.T2: float(rng.uniform(15.0, 70.0))},
        phase_res=float(rng.uniform(0.6, 1.0)), partial_fourier=float(rng.choice([0.75, 0.875, 1.0])),
        motion_mm=float(rng.choice([0.0, 0.3, 0.6, 1.0, 1.6], p=[0.25, 0.3, 0.2, 0.15, 0.1])),
        banding=bool(rng.random() < 0.12), mask_background=bool(rng.random() < 0.5),
        flip_field=SmoothField(rng, (200.0, 500.0), 4),
        flip_amplitude=0.12 if field_strength_t > 2 else 0.04,
        coil_centres=np.stack([xs, ys, zs], axis=1), coil_width=rng.uniform(90.0, 160.0),
    )


@dataclass
class PlaneTruth:
    labels: np.ndarray  # uint8 (rows, cols)
    t1: np.ndarray  # true tissue T1 at pixel centres (ms)
    t2: np.ndarray
    tissue: np.ndarray  # int8 tissue class at pixel centres
    # fine-grid per-point properties for the signal simulation (n_off, Rf, Cf)
    f_t1: np.ndarray
    f_t2: np.ndarray
    f_pd: np.ndarray
    f_flip: np.ndarray
    f_coil: np.ndarray  # (Rf, Cf)
    band: np.ndarray | None  # (Rf, Cf) 0..1 banding weight
    diff_idx: np.ndarray  # flat (Rf*Cf) indices where the tissue changes through the slice

    def through_slice(self, simulate) -> np.ndarray:
        """Slice-profile-weighted signals (n_img, Rf, Cf) of `simulate(t1, t2, pd, flip) -> (n_img, N)`.

        Where the tissue is the same at all depths, one evaluation (at the centre) serves the whole column.
        """
        n_off, rf, cf = self.f_t1.shape
        c = n_off // 2
        out = simulate(self.f_t1[c].ravel(), self.f_t2[c].ravel(), self.f_pd[c].ravel(), self.f_flip[c].ravel())
        idx = self.diff_idx
        if idx.size:
            acc = SLICE_WEIGHTS[c] * out[:, idx]
            for o in range(n_off):
                if o != c:
                    sig = simulate(*(a[o].ravel()[idx] for a in (self.f_t1, self.f_t2, self.f_pd, self.f_flip)))
                    acc += SLICE_WEIGHTS[o] * sig
            out[:, idx] = acc
        return out.reshape(out.shape[0], rf, cf)


def sample_plane(body: Body, tissues: TissueSet, plane: Plane, acq: AcqParams, rng: np.random.Generator) -> PlaneTruth:
    offs = SLICE_OFFSETS * plane.thickness_mm
    pts = plane_points(plane, OVERSAMPLE, offs)  # (n_off, Rf, Cf, 3)
    n_off, rf, cf, _ = pts.shape
    smp = evaluate(body, pts)
    tis = smp.tissue.astype(np.intp)
    tex = 1.0 + _TEXTURE[tis] * smp.texture
    t1 = tissues.t1[tis] * tex
    t2 = tissues.t2[tis] * (1.0 + 0.7 * _TEXTURE[tis] * smp.texture)
    pd = tissues.pd[tis] * (1.0 + 0.5 * _TEXTURE[tis] * smp.texture)
    if (smp.lesion > 0).any():
        lw = smp.lesion
        t1 = t1 * (1 - lw) + tissues.lesion_t1 * lw
        t2 = t2 * (1 - lw) + tissues.lesion_t2 * lw
    flip = np.broadcast_to(1.0 + acq.flip_amplitude * on_grid(acq.flip_field, pts[n_off // 2], 8), (n_off, rf, cf)).reshape(-1)
    centre = pts[n_off // 2]

    def coil_fn(p: np.ndarray) -> np.ndarray:
        d2 = ((p[:, None, :] - acq.coil_centres[None, :, :]) ** 2).sum(-1)
        return np.sqrt((np.exp(-d2 / (2 * acq.coil_width**2)) ** 2).sum(-1)) + 0.05

    coil = on_grid(coil_fn, centre, 8)
    coil = (coil / np.median(coil)).astype(np.float32)
    band = None
    if acq.banding:
        band = _band(rng, rf, cf, plane.spacing_mm / OVERSAMPLE)
        flip = flip.reshape(n_off, rf, cf) * (1.0 - 0.45 * band[None])
        flip = flip.reshape(-1)

    # labels: per-class fractions with the slice profile and a triangle kernel centred on coarse pixels
    lab = smp.label.reshape(n_off, rf, cf)
    fracs = []
    for c in range(4):
        f = np.tensordot(SLICE_WEIGHTS, (lab == c).astype(np.float32), axes=1)
        f = ndimage.correlate1d(f, [0.25, 0.5, 0.25], axis=0, mode="nearest")
        f = ndimage.correlate1d(f, [0.25, 0.5, 0.25], axis=1, mode="nearest")
        fracs.append(f[::OVERSAMPLE, ::OVERSAMPLE])
    labels = np.argmax(np.stack(fracs), axis=0).astype(np.uint8)
    shape = (n_off, rf, cf)
    c_t1 = t1.reshape(shape)[n_off // 2, ::OVERSAMPLE, ::OVERSAMPLE]
    c_t2 = t2.reshape(shape)[n_off // 2, ::OVERSAMPLE, ::OVERSAMPLE]
    c_tis = smp.tissue.reshape(shape)[n_off // 2, ::OVERSAMPLE, ::OVERSAMPLE]
    air = c_tis == Tissue.AIR  # no tissue, no relaxation time
    c_t1 = np.where(air, 0.0, c_t1)
    c_t2 = np.where(air, 0.0, c_t2)
    return PlaneTruth(
        labels=labels, t1=c_t1.astype(np.float32), t2=c_t2.astype(np.float32), tissue=c_tis,
        f_t1=t1.reshape(shape).astype(np.float32), f_t2=t2.reshape(shape).astype(np.float32),
        f_pd=pd.reshape(shape).astype(np.float32), f_flip=flip.reshape(shape).astype(np.float32),
        f_coil=coil, band=band, diff_idx=np.nonzero(_differs(smp.tissue.reshape(shape), smp.lesion.reshape(shape)))[0],
    )


def _differs(tissue: np.ndarray, lesion: np.ndarray) -> np.ndarray:
    """Flat mask of in-plane positions whose tissue (or lesion weight) is not the same at every depth."""
    d = np.zeros(tissue.shape[1:], dtype=bool)
    for o in range(1, tissue.shape[0]):
        d |= tissue[o] != tissue[0]
    d |= lesion.max(axis=0) > 0
    return d.ravel()


def _band(rng: np.random.Generator, rf: int, cf: int, d: float) -> np.ndarray:
    """A curved dark off-resonance band (bSSFP) a few mm wide somewhere across the heart region."""
    yy, xx = np.mgrid[0:rf, 0:cf].astype(np.float32)
    cy, cx = rf * rng.uniform(0.3, 0.7), cf * rng.uniform(0.3, 0.7)
    r0 = rng.uniform(25.0, 70.0) / d
    r = np.hypot(yy - cy - r0 * rng.choice([-1, 1]), xx - cx)
    phi = np.arctan2(yy - cy, xx - cx)
    r = r + (rng.uniform(3.0, 8.0) / d) * np.sin(rng.integers(2, 5) * phi + rng.uniform(0, 2 * np.pi))
    width = rng.uniform(2.0, 5.0) / d
    return np.exp(-(((r - r0) / width) ** 2)).astype(np.float32)


def _acquire(
    sig: np.ndarray, truth: PlaneTruth, plane: Plane, acq: AcqParams, snr: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Fine-grid slice-averaged signed signals (n_img, Rf, Cf) -> (magnitude images (n_img, rows, cols), sigma)."""
    n_img, rf, cf = sig.shape
    sig = sig * truth.f_coil[None]
    if truth.band is not None:
        sig = sig * (1.0 - 0.7 * truth.band[None])
    rows, cols = plane.rows, plane.cols
    k = np.fft.fftshift(sfft.fft2(sig.astype(np.float32)), axes=(-2, -1))
    r0, c0 = (rf - rows) // 2, (cf - cols) // 2
    k = k[:, r0 : r0 + rows, c0 : c0 + cols]
    # phase direction = rows: reduced resolution and partial Fourier (zero-filled)
    ky = np.arange(rows) - rows // 2
    keep = np.abs(ky) <= acq.phase_res * rows / 2.0
    if acq.partial_fourier < 1.0:
        keep &= ky >= -(acq.partial_fourier - 0.5) * acq.phase_res * rows
    # scanner k-space filter: a raised-cosine taper over the outer 40% of the acquired range (less ringing)
    kmax = acq.phase_res * rows / 2.0
    k_lo = -kmax if acq.partial_fourier >= 1.0 else -(acq.partial_fourier - 0.5) * 2.0 * kmax
    taper = np.clip(np.minimum(kmax - ky, ky - k_lo) / (0.4 * kmax), 0.0, 1.0)
    window = (keep * (0.5 - 0.5 * np.cos(np.pi * taper))).astype(np.float32)
    kx_ = np.abs(np.arange(cols) - cols // 2) / (cols / 2.0)
    window_x = (0.5 + 0.5 * np.cos(np.pi * np.clip((kx_ - 0.8) / 0.2, 0.0, 1.0))).astype(np.float32)
    k = k * window[None, :, None] * window_x[None, None, :]
    if acq.motion_mm > 0:
        kx = np.arange(cols) - cols // 2
        shifts = rng.normal(0.0, acq.motion_mm, (n_img, 2)) / plane.spacing_mm
        if rng.random() < 0.3:  # one badly registered image
            shifts[rng.integers(n_img)] += rng.normal(0.0, 2.5, 2) / plane.spacing_mm
        ramp = np.exp(
            -2j * np.pi * (shifts[:, 0, None, None] * ky[None, :, None] / rows + shifts[:, 1, None, None] * kx[None, None, :] / cols)
        ).astype(np.complex64)
        k = k * ramp
    img = sfft.ifft2(np.fft.ifftshift(k, axes=(-2, -1))) * np.float32(rows * cols / (rf * cf))
    myo = truth.labels == 2
    ref_img = np.abs(img[np.argmax(np.abs(img).reshape(n_img, -1).mean(1))])
    ref = float(np.median(ref_img[myo])) if myo.sum() > 10 else float(np.percentile(ref_img, 90)) * 0.5
    sigma = ref / snr
    noise = rng.normal(0.0, sigma, img.shape) + 1j * rng.normal(0.0, sigma, img.shape)
    return np.abs(img + noise).astype(np.float32), sigma


def acquire_t1(truth: PlaneTruth, plane: Plane, acq: AcqParams, proto: MolliProtocol, rng: np.random.Generator):
    ti = molli_signal(np.ones(1), np.ones(1), np.ones(1), proto)[1]
    sig = truth.through_slice(lambda t1, t2, pd, flip: molli_signal(t1, t2, pd, proto, flip)[0])
    images, sigma = _acquire(sig, truth, plane, acq, acq.snr[MapType.T1], rng)
    if acq.mask_background:
        # scanners blank pixels without signal; they are not fitted
        keep = images.max(axis=0) >= 4.0 * sigma
        t1 = np.zeros(keep.shape, np.float32)
        t1[keep] = fit_molli(images[:, keep][:, None, :], ti)[0][0]
    else:
        t1 = fit_molli(images, ti)[0]
    return t1, images, ti


def acquire_t2(truth: PlaneTruth, plane: Plane, acq: AcqParams, proto: T2PrepProtocol, rng: np.random.Generator):
    sig = truth.through_slice(lambda t1, t2, pd, flip: t2prep_signal(t1, t2, pd, proto, flip))
    images, sigma = _acquire(sig, truth, plane, acq, acq.snr[MapType.T2], rng)
    t2 = fit_t2(images, proto.te_ms)[0]
    if acq.mask_background:
        t2[images[0] < 4.0 * sigma] = 0.0
    return t2, images
