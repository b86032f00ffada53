"""Signal models of MOLLI and T2-prepared bSSFP, and the per-pixel fits that turn images into maps.

bSSFP readout model (Schmitt et al. 2004, IR-TrueFISP): after the alpha/2 catalyst the magnetisation along
the steady-state axis relaxes with 1/T1* = cos^2(a/2)/T1 + sin^2(a/2)/T2 towards
m_ss = M0 cos(a/2) T1*/T1; the signal of the centre k-space line is sin(a/2) m(t_centre), and the
magnetisation left after the block is flipped back to z. Between readouts: free T1 recovery; inversion with
efficiency < 1. This reproduces MOLLI's known bias (T2 and heart-rate dependence, underestimation of long
T1) without any extra bias term: the fit is the standard 3-parameter model with Look-Locker correction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------------------------- protocols


@dataclass(frozen=True)
class Readout:
    flip_deg: float
    tr_ms: float
    n_lines: int  # pulses per single-shot block
    centre_line: int  # pulse index of the k-space centre (linear ordering, partial Fourier moves it earlier)

    @property
    def duration_ms(self) -> float:
        return self.n_lines * self.tr_ms

    @property
    def centre_ms(self) -> float:
        return self.centre_line * self.tr_ms


@dataclass(frozen=True)
class MolliProtocol:
    scheme: tuple[int, ...]  # images per inversion, e.g. (5, 3) or (4, 3, 2)
    pauses: tuple[int, ...]  # recovery heartbeats after each group but the last
    ti_first_ms: float
    ti_step_ms: float  # TI shift between inversion groups
    rr_ms: tuple[float, ...]  # one RR interval per heartbeat
    trigger_ms: float  # readout centre after the R wave
    inversion_efficiency: float
    readout: Readout

    @property
    def name(self) -> str:
        parts = []
        for i, n in enumerate(self.scheme):
            parts.append(str(n))
            if i < len(self.pauses):
                parts.append(f"({self.pauses[i]})")
        return "MOLLI " + "".join(parts)

    @property
    def n_beats(self) -> int:
        return sum(self.scheme) + sum(self.pauses)


NATIVE_SCHEME = ((5, 3), (3,))
POST_SCHEME = ((4, 3, 2), (1, 1))


def sample_molli(rng: np.random.Generator, contrast: bool, rows: int) -> MolliProtocol:
    scheme, pauses = POST_SCHEME if contrast else NATIVE_SCHEME
    rr_mean = rng.uniform(650.0, 1250.0)
    n_beats = sum(scheme) + sum(pauses)
    rr = tuple(float(x) for x in rr_mean * rng.normal(1.0, 0.04, n_beats))
    return MolliProtocol(
        scheme=scheme, pauses=pauses, ti_first_ms=rng.uniform(95.0, 125.0), ti_step_ms=80.0, rr_ms=rr,
        trigger_ms=min(rr_mean * rng.uniform(0.55, 0.75), rr_mean - 160.0),
        inversion_efficiency=rng.uniform(0.94, 0.99), readout=_sample_readout(rng, 35.0, rows),
    )


def _sample_readout(rng: np.random.Generator, flip_deg: float, rows: int) -> Readout:
    # single shot with parallel imaging (R=2) and 6/8..8/8 partial Fourier, 5 ramp-up pulses
    pf = rng.choice([0.75, 0.875, 1.0])
    lines = int(round(rows * rng.uniform(0.55, 0.8) * pf / 2.0)) + 5
    centre = int(round(lines - (lines - 5) / pf / 2.0))
    return Readout(flip_deg=flip_deg * rng.normal(1.0, 0.03), tr_ms=rng.uniform(2.4, 3.0), n_lines=lines,
                   centre_line=max(5, centre))


@dataclass(frozen=True)
class T2PrepProtocol:
    te_ms: tuple[float, ...]
    recovery_beats: int
    rr_ms: float
    readout: Readout


def sample_t2prep(rng: np.random.Generator, rows: int) -> T2PrepProtocol:
    return T2PrepProtocol(te_ms=(0.0, 25.0, 55.0), recovery_beats=int(rng.choice([3, 4])),
                          rr_ms=rng.uniform(650.0, 1250.0), readout=_t2_readout(rng, rows))


def _t2_readout(rng: np.random.Generator, rows: int) -> Readout:
    # T2 maps use an early k-space centre (partial Fourier, few ramp-up pulses) to limit the T1 contamination
    lines = int(round(rows * rng.uniform(0.5, 0.7) * 0.75 / 2.0)) + 5
    return Readout(flip_deg=70.0 * rng.normal(1.0, 0.03), tr_ms=rng.uniform(2.4, 3.0), n_lines=lines,
                   centre_line=int(rng.integers(8, 16)))


# ---------------------------------------------------------------------------------------------- signals


class _Bssfp:
    """Per-point readout constants."""

    def __init__(self, t1: np.ndarray, t2: np.ndarray, pd: np.ndarray, flip_scale: np.ndarray | float, ro: Readout):
        a2 = np.deg2rad(ro.flip_deg) * flip_scale / 2.0
        ca2, sa2 = np.cos(a2) ** 2, np.sin(a2) ** 2
        r1s = ca2 / t1 + sa2 / t2
        self.mss = pd * np.cos(a2) / t1 / r1s
        self.e_c = np.exp(-ro.centre_ms * r1s)
        self.e_b = np.exp(-ro.duration_ms * r1s)
        self.sin = np.sin(a2)

    def read(self, mz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(signal, Mz after the block)."""
        s = self.sin * (self.mss + (mz - self.mss) * self.e_c)
        return s, self.mss + (mz - self.mss) * self.e_b


def molli_signal(t1, t2, pd, proto: MolliProtocol, flip_scale=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Signed signals (n_images, N) and the scanner-reported inversion times (n_images,), in image order."""
    t1 = np.maximum(np.asarray(t1, np.float32), 1.0)
    t2 = np.maximum(np.asarray(t2, np.float32), 1.0)
    pd = np.asarray(pd, np.float32)
    ro = proto.readout
    bssfp = _Bssfp(t1, t2, pd, flip_scale, ro)
    beat_start = np.concatenate([[0.0], np.cumsum(proto.rr_ms)])
    mz = pd.copy()
    t_now = 0.0
    signals, tis = [], []
    beat = 0
    for g, n_img in enumerate(proto.scheme):
        centre0 = beat_start[beat] + proto.trigger_ms + 2000.0  # 2 s of rest before the first inversion
        t_inv = centre0 - (proto.ti_first_ms + g * proto.ti_step_ms)
        mz = pd - (pd - mz) * np.exp(-(t_inv - t_now) / t1)
        mz = -proto.inversion_efficiency * mz
        t_now = t_inv
        for k in range(n_img):
            centre = beat_start[beat + k] + proto.trigger_ms + 2000.0
            start = centre - ro.centre_ms
            mz = pd - (pd - mz) * np.exp(-(start - t_now) / t1)
            s, mz = bssfp.read(mz)
            signals.append(s)
            tis.append(centre - t_inv)
            t_now = start + ro.duration_ms
        beat += n_img + (proto.pauses[g] if g < len(proto.pauses) else 0)
    return np.stack(signals).astype(np.float32), np.asarray(tis, dtype=np.float64)


def t2prep_signal(t1, t2, pd, proto: T2PrepProtocol, flip_scale=1.0) -> np.ndarray:
    """Signals (n_te, N): T2 preparation, then a bSSFP single shot; recovery heartbeats in between."""
    t1 = np.maximum(np.asarray(t1, np.float32), 1.0)
    t2 = np.maximum(np.asarray(t2, np.float32), 1.0)
    pd = np.asarray(pd, np.float32)
    ro = proto.readout
    bssfp = _Bssfp(t1, t2, pd, flip_scale, ro)
    mz = pd.copy()
    out = []
    for te in proto.te_ms:
        mz = mz * np.exp(-te / t2)
        s, mz = bssfp.read(mz)
        out.append(s)
        gap = (proto.recovery_beats + 1) * proto.rr_ms - ro.duration_ms - te
        mz = pd - (pd - mz) * np.exp(-gap / t1)
    return np.stack(out).astype(np.float32)


# ---------------------------------------------------------------------------------------------- fits

_T1STAR_GRID = np.geomspace(15.0, 4000.0, 32)


def _projectors(t: np.ndarray) -> np.ndarray:
    """Orthonormal bases of span{1, exp(-t/T1*)} for every grid T1*, stacked: (2K, n)."""
    x = np.stack([np.ones((len(_T1STAR_GRID), t.size)), -np.exp(-t[None, :] / _T1STAR_GRID[:, None])], axis=2)
    q, _ = np.linalg.qr(x)  # (K, n, 2)
    return np.ascontiguousarray(q.transpose(0, 2, 1).reshape(-1, t.size)).astype(np.float32)


def _grid_search(y: np.ndarray, qmat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best T1* index and its residual for each column of y (n, P) under S = A - B exp(-t/T1*)."""
    proj = qmat @ y  # (2K, P)
    proj = proj.reshape(len(_T1STAR_GRID), 2, -1)
    energy = (proj**2).sum(axis=1)  # (K, P)
    best = np.argmax(energy, axis=0)
    resid = (y**2).sum(axis=0) - energy[best, np.arange(y.shape[1])]
    return best, resid


def fit_molli(images: np.ndarray, ti_ms: np.ndarray, steps: int = 6, chunk: int = 32768):
    """Magnitude MOLLI images (n, rows, cols) -> (T1 ms, A, B, T1* ms) maps, each (rows, cols) float32.

    Polarity restoration: sorted by TI, the points before the magnitude minimum are negative; the sign change is
    tried just before, at and after the minimum (the best fit wins: with noise, the minimum can be the first
    positive point or the last negative one). Then grid search over T1*, then damped Gauss-Newton on
    (A, B, T1*) with closed-form 3x3 solves. T1 = T1* (B/A - 1); failed fits give 0 (as scanners do).
    """
    n, rows, cols = images.shape
    order = np.argsort(ti_ms)
    t = np.asarray(ti_ms, dtype=np.float64)[order]
    y_all = images.reshape(n, -1)[order].astype(np.float32)
    out = np.zeros((4, rows * cols), dtype=np.float32)
    qmat = _projectors(t)
    for c0 in range(0, y_all.shape[1], chunk):
        y = y_all[:, c0 : c0 + chunk]
        out[:, c0 : c0 + chunk] = _fit_chunk(y, t, qmat, steps)
    return tuple(o.reshape(rows, cols) for o in out)


def _fit_chunk(y: np.ndarray, t: np.ndarray, qmat: np.ndarray, steps: int) -> np.ndarray:
    n, p = y.shape
    imin = np.argmin(y, axis=0)
    idx = np.arange(n)[:, None]
    best_y = None
    for shift in (0, 1, -1):
        neg = idx < (imin + shift)[None, :]
        yy = np.where(neg, -y, y)
        k, resid = _grid_search(yy, qmat)
        if best_y is None:
            best_y, best_k, best_r = yy, k, resid
        else:
            better = resid < best_r
            best_y = np.where(better[None, :], yy, best_y)
            best_k = np.where(better, k, best_k)
            best_r = np.where(better, resid, best_r)
    assert best_y is not None  # the loop above runs three times
    y = best_y.astype(np.float64)
    t1s = _T1STAR_GRID[best_k]
    # linear A, B for the grid T1*
    e = np.exp(-t[:, None] / t1s[None, :])
    s_e, s_ee = e.sum(0), (e * e).sum(0)
    s_y, s_ye = y.sum(0), (y * e).sum(0)
    det = n * s_ee - s_e * s_e
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    a = (s_ee * s_y - s_e * s_ye) / det
    b = -(n * s_ye - s_e * s_y) / det
    params = np.stack([a, b, t1s])  # (3, p)
    lam = np.full(p, 1e-3)
    cost = ((y - (a - b * e)) ** 2).sum(0)
    tt = t[:, None]
    for _ in range(steps):
        a, b, t1s = params
        e = np.exp(-tt / t1s)
        r = y - (a - b * e)
        j1 = -e
        j2 = -b * e * tt / t1s**2
        # normal equations (J^T J + lam diag) d = J^T r, solved in closed form (Cramer) for all pixels
        m00 = np.full(p, float(n))
        m01, m02 = j1.sum(0), j2.sum(0)
        m11, m12, m22 = (j1 * j1).sum(0), (j1 * j2).sum(0), (j2 * j2).sum(0)
        g0, g1, g2 = r.sum(0), (j1 * r).sum(0), (j2 * r).sum(0)
        m00, m11, m22 = m00 * (1 + lam), m11 * (1 + lam) + 1e-12, m22 * (1 + lam) + 1e-12
        c00 = m11 * m22 - m12 * m12
        c01 = m02 * m12 - m01 * m22
        c02 = m01 * m12 - m02 * m11
        det = m00 * c00 + m01 * c01 + m02 * c02
        det = np.where(np.abs(det) < 1e-30, 1e-30, det)
        c11 = m00 * m22 - m02 * m02
        c12 = m01 * m02 - m00 * m12
        c22 = m00 * m11 - m01 * m01
        d0 = (c00 * g0 + c01 * g1 + c02 * g2) / det
        d1 = (c01 * g0 + c11 * g1 + c12 * g2) / det
        d2 = (c02 * g0 + c12 * g1 + c22 * g2) / det
        trial = params + np.stack([d0, d1, d2])
        trial[2] = np.clip(trial[2], 5.0, 8000.0)
        e_t = np.exp(-tt / trial[2])
        cost_t = ((y - (trial[0] - trial[1] * e_t)) ** 2).sum(0)
        ok = cost_t < cost
        params = np.where(ok[None, :], trial, params)
        cost = np.where(ok, cost_t, cost)
        lam = np.where(ok, lam * 0.3, lam * 10.0)
    a, b, t1s = params
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = t1s * (b / a - 1.0)
    good = np.isfinite(t1) & (a > 0) & (b > a) & (t1 > 0)
    t1 = np.where(good, np.minimum(t1, 5000.0), 0.0)
    return np.stack([t1, a, b, t1s]).astype(np.float32)


def fit_t2(images: np.ndarray, te_ms, steps: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mono-exponential S = S0 exp(-TE/T2): weighted log-linear fit, then Gauss-Newton. -> (T2 ms, S0)."""
    n, rows, cols = images.shape
    te = np.asarray(te_ms, dtype=np.float64)
    y = np.maximum(images.reshape(n, -1).astype(np.float64), 1e-6)
    w = y**2
    ly = np.log(y)
    sw, swx, swxx = w.sum(0), (w * te[:, None]).sum(0), (w * te[:, None] ** 2).sum(0)
    swy, swxy = (w * ly).sum(0), (w * ly * te[:, None]).sum(0)
    det = sw * swxx - swx**2
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    slope = (sw * swxy - swx * swy) / det
    icpt = (swxx * swy - swx * swxy) / det
    s0, r2 = np.exp(icpt), np.clip(-slope, 1e-4, 1.0)
    for _ in range(steps):
        e = np.exp(-te[:, None] * r2[None, :])
        r = y - s0 * e
        j0, j1 = e, -s0 * e * te[:, None]
        a11, a12, a22 = (j0 * j0).sum(0), (j0 * j1).sum(0), (j1 * j1).sum(0)
        b1, b2 = (j0 * r).sum(0), (j1 * r).sum(0)
        dd = a11 * a22 - a12**2
        dd = np.where(np.abs(dd) < 1e-12, 1e-12, dd)
        s0 = s0 + (a22 * b1 - a12 * b2) / dd
        r2 = np.clip(r2 + (a11 * b2 - a12 * b1) / dd, 1e-4, 1.0)
    t2 = np.where(slope < 0, 1.0 / r2, 0.0)
    t2 = np.clip(t2, 0.0, 1000.0)
    return t2.reshape(rows, cols).astype(np.float32), s0.reshape(rows, cols).astype(np.float32)
