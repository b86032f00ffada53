"""A 3D thorax with a parametric heart, evaluated at arbitrary points (so every view cuts the same subject).

Coordinates: patient LPS in mm (+x left, +y posterior, +z superior). The heart has its own frame:
  u: towards the LV lateral wall (image right in SAX), v: towards the inferior wall (image down in SAX),
  w: the LV long axis from the mitral plane (w = 0) towards the apex.
The RV sits at -u (septal side), the liver at -u/+v in SAX, the atria at w < 0.
Everything is an implicit function: no meshes, no voxel volume, just vectorised numpy over the sample points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from myoseg.core.types import Label
from myoseg.sim.fields import SmoothDisplacement, SmoothField, on_grid
from myoseg.sim.tissues import Tissue

PHENOTYPES = ("normal", "small", "large", "hypertrophic", "dilated")
_PHENOTYPE_P = (0.5, 0.12, 0.12, 0.13, 0.13)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _prof(s: np.ndarray, p: float) -> np.ndarray:
    """Bullet profile: 1 at the base (s <= 0), 0 at the apex (s >= 1)."""
    sc = np.clip(s, 0.0, 1.0)
    out = (1.0 - sc**p) ** (1.0 / p)
    return np.where(s > 1.0, 0.0, out)


@dataclass
class Heart:
    base: np.ndarray  # mitral-plane centre, patient mm
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    phenotype: str
    R: float  # LV cavity radius at the base (mm)
    ecc: float  # u/v axis ratio of the cavity
    L: float  # cavity length base -> endocardial apex
    p_shape: float
    t_base: float
    t_apex: float
    septal_extra: float
    harmonics: list[tuple[int, float, float]]
    base_tilt: tuple[float, float]  # (amplitude mm, angle) of the mitral plane tilt
    rv_cu: float
    rv_cv: float
    rv_ru: float
    rv_rv: float
    rv_len: float
    rv_wall: float
    w_tv: float
    papillary: list[tuple[float, float, float, float]]  # (theta, radius, w_centre, w_half)
    trab_depth: float
    trab_threshold: float
    lvot_theta: float
    lvot_radius: float
    lvot_w_end: float
    lvot_tilt: float
    fat_mean: float
    lesion: tuple[float, float, float, float, float] | None  # (theta0, half_width, w0, w1, transmurality)
    deform: SmoothDisplacement
    trab_field: SmoothField
    fat_field: SmoothField
    shape_field: SmoothField

    @property
    def outer_length(self) -> float:
        return self.L + self.t_apex

    def to_heart(self, points: np.ndarray) -> np.ndarray:
        d = [points[:, i] - np.float32(self.base[i]) for i in range(3)]
        out = np.empty(points.shape, dtype=np.float32)
        for k, axis in enumerate((self.u, self.v, self.w)):
            a = axis.astype(np.float32)
            out[:, k] = d[0] * a[0] + d[1] * a[1] + d[2] * a[2]
        return out

    def to_patient(self, h: np.ndarray) -> np.ndarray:
        h = np.asarray(h, dtype=np.float64)
        return self.base + h[..., 0:1] * self.u + h[..., 1:2] * self.v + h[..., 2:3] * self.w


@dataclass
class Body:
    ax: float
    ay: float
    fat_sc: float
    muscle: float
    dia_z: float
    spine_y: float
    aorta_xy: tuple[float, float]
    aorta_r: float
    liver_edge_x: float
    texture: SmoothField
    heart: Heart
    info: dict = field(default_factory=dict)


def sample_heart(rng: np.random.Generator) -> Heart:
    phenotype = str(rng.choice(PHENOTYPES, p=_PHENOTYPE_P))
    R = rng.uniform(21.0, 26.0)
    t_base = rng.uniform(8.0, 11.0)
    L = rng.uniform(72.0, 90.0)
    septal_extra = rng.uniform(0.0, 0.12)
    if phenotype == "small":
        R, L, t_base = rng.uniform(15.0, 19.0), rng.uniform(58.0, 70.0), rng.uniform(6.5, 9.0)
    elif phenotype == "large":
        R, L, t_base = rng.uniform(27.0, 31.0), rng.uniform(88.0, 100.0), rng.uniform(9.0, 11.5)
    elif phenotype == "hypertrophic":
        R, t_base = rng.uniform(14.0, 21.0), rng.uniform(12.0, 14.0)
        septal_extra = rng.uniform(0.0, 0.35)  # asymmetric septal hypertrophy
    elif phenotype == "dilated":
        R, L, t_base = rng.uniform(30.0, 38.0), rng.uniform(92.0, 110.0), rng.uniform(6.0, 8.0)
    t_apex = t_base * rng.uniform(0.45, 0.7)

    # orientation: apex points left, anterior, inferior
    w = _unit(np.array([0.62, -0.45, -0.64]) + rng.normal(0.0, 0.12, 3))
    lateral = np.array([1.0, 0.3, 0.0]) + rng.normal(0.0, 0.1, 3)
    u = _unit(lateral - (lateral @ w) * w)
    v = np.cross(u, w)
    base = np.array([20.0, -15.0, 0.0]) + rng.normal(0.0, [6.0, 5.0, 5.0])

    ro = R + t_base
    harmonics = [(k, rng.uniform(0.0, 0.05 if k == 2 else 0.025), rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4)]
    papillary = [
        (np.deg2rad(rng.uniform(-60, -25)), rng.uniform(3.5, 6.0), L * rng.uniform(0.45, 0.6), L * rng.uniform(0.15, 0.25)),
        (np.deg2rad(rng.uniform(100, 135)), rng.uniform(3.5, 6.0), L * rng.uniform(0.45, 0.6), L * rng.uniform(0.15, 0.25)),
    ]
    lesion = None
    if rng.random() < 0.25:
        lesion = (
            rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(20, 70)),
            rng.uniform(0.0, 0.5) * L, rng.uniform(0.55, 1.0) * L, rng.uniform(0.3, 1.0),
        )
    return Heart(
        base=base, u=u, v=v, w=w, phenotype=phenotype, R=R, ecc=rng.uniform(0.9, 1.12), L=L,
        p_shape=rng.uniform(2.0, 3.2), t_base=t_base, t_apex=t_apex, septal_extra=septal_extra,
        harmonics=harmonics, base_tilt=(rng.uniform(0.0, 4.0), rng.uniform(0, 2 * np.pi)),
        rv_cu=-ro * rng.uniform(0.45, 0.6), rv_cv=-ro * rng.uniform(0.05, 0.2),
        rv_ru=ro * rng.uniform(1.0, 1.3) * (1.2 if phenotype == "dilated" and rng.random() < 0.4 else 1.0),
        rv_rv=ro * rng.uniform(1.05, 1.25), rv_len=L * rng.uniform(0.72, 0.88), rv_wall=rng.uniform(2.5, 4.0),
        w_tv=rng.uniform(4.0, 9.0), papillary=papillary,
        trab_depth=rng.uniform(1.0, 3.0), trab_threshold=rng.uniform(0.4, 0.9),
        lvot_theta=np.deg2rad(rng.uniform(215, 250)), lvot_radius=rng.uniform(10.0, 14.0),
        lvot_w_end=rng.uniform(4.0, 22.0), lvot_tilt=np.deg2rad(rng.uniform(25, 45)),
        fat_mean=rng.uniform(0.0, 2.5), lesion=lesion,
        deform=SmoothDisplacement(rng, rng.uniform(1.0, 2.5)),
        trab_field=SmoothField(rng, (3.0, 8.0), 12), fat_field=SmoothField(rng, (20.0, 60.0), 6),
        shape_field=SmoothField(rng, (30.0, 80.0), 6),
    )


def sample_body(rng: np.random.Generator) -> Body:
    heart = sample_heart(rng)
    ax, ay = rng.uniform(145.0, 190.0), rng.uniform(100.0, 130.0)
    return Body(
        ax=ax, ay=ay, fat_sc=rng.uniform(4.0, 28.0), muscle=rng.uniform(8.0, 16.0),
        dia_z=rng.uniform(-75.0, -55.0), spine_y=ay - rng.uniform(45.0, 60.0),
        aorta_xy=(rng.uniform(15.0, 35.0), 0.0), aorta_r=rng.uniform(10.0, 14.0),
        liver_edge_x=rng.uniform(10.0, 50.0), texture=SmoothField(rng, (15.0, 60.0), 8), heart=heart,
    )


@dataclass
class Sampled:
    tissue: np.ndarray  # int8 Tissue per point
    label: np.ndarray  # uint8 Label per point
    lesion: np.ndarray  # float32 0..1 focal-lesion weight per point
    texture: np.ndarray  # float32 smooth unit-variance texture per point


def evaluate(body: Body, grid: np.ndarray) -> Sampled:
    """Tissue class, label, lesion weight and texture at the points of a (..., R, C, 3) patient-mm grid
    (smooth fields are evaluated on a coarser grid and interpolated). Outputs are flat (N,)."""
    points = grid.reshape(-1, 3)
    n = points.shape[0]
    tissue = np.full(n, Tissue.AIR, dtype=np.int8)
    label = np.zeros(n, dtype=np.uint8)
    lesion = np.zeros(n, dtype=np.float32)
    x, y, z = points[:, 0], points[:, 1], points[:, 2]

    # --- torso: subcutaneous fat, muscle, thoracic/abdominal interior ---
    s = np.sqrt((x / body.ax) ** 2 + (y / body.ay) ** 2)
    r_local = np.sqrt(x**2 + y**2) / np.maximum(s, 1e-6)
    depth = (1.0 - s) * r_local
    inside = s < 1.0
    tissue[inside] = Tissue.FAT
    tissue[inside & (depth > body.fat_sc)] = Tissue.MUSCLE
    interior = inside & (depth > body.fat_sc + body.muscle)
    paraspinal = interior & (((np.abs(x) - 38.0) / 32.0) ** 2 + ((y - body.spine_y - 5.0) / 38.0) ** 2 < 1.0)
    interior &= ~paraspinal
    tissue[paraspinal] = Tissue.MUSCLE
    dia = body.dia_z + 12.0 * np.tanh(-x / 50.0) - 0.002 * x**2 - 0.0012 * (y - 20.0) ** 2
    thorax = interior & (z > dia)
    abdomen = interior & (z <= dia)
    tissue[thorax] = Tissue.LUNG
    mediast = thorax & (((x - 5.0) / 38.0) ** 2 + ((y + 5.0) / 70.0) ** 2 + ((z - 70.0) / 75.0) ** 2 < 1.0)
    tissue[mediast] = Tissue.FAT
    tissue[abdomen] = Tissue.MUSCLE  # bowel / abdominal wall mixture
    # liver: a large rounded organ under the right dome reaching across the midline; stomach and spleen left
    texture = _smooth_on(body.texture, grid)
    tex = texture[abdomen]
    xa, ya = x[abdomen], y[abdomen]
    liver_e = ((xa + 45.0) / (body.ax * 0.75 + 10.0)) ** 2 + ((ya - 5.0) / (body.ay * 0.95)) ** 2
    liver_a = (liver_e + 0.06 * tex < 1.0) & (xa < body.liver_edge_x + 15.0 * tex)
    stomach_a = ((xa - 60.0) / 55.0) ** 2 + ((ya + 15.0) / 50.0) ** 2 + 0.08 * tex < 1.0
    sub_t = np.full(xa.shape, Tissue.MUSCLE, dtype=np.int8)
    sub_t[stomach_a] = Tissue.STOMACH
    sub_t[liver_a] = Tissue.LIVER
    tissue[abdomen] = sub_t
    left_abd = abdomen & (tissue != Tissue.LIVER)
    spleen = ((x - 95.0) / 35.0) ** 2 + ((y - 55.0) / 45.0) ** 2 + ((z - (dia - 45.0)) / 55.0) ** 2 < 1.0
    tissue[left_abd & spleen] = Tissue.SPLEEN
    ivc = abdomen & ((x + 25.0) ** 2 + (y - 15.0) ** 2 < 12.0**2)
    tissue[ivc] = Tissue.BLOOD
    # sternum, spine, descending aorta
    sternum = inside & (np.abs(x) < 13.0) & (depth > body.fat_sc) & (depth < body.fat_sc + 11.0) & (y < 0)
    tissue[sternum] = Tissue.MARROW
    vert = x**2 + (y - body.spine_y) ** 2 < 19.0**2
    tissue[vert] = Tissue.MARROW
    tissue[x**2 + (y - body.spine_y - 28.0) ** 2 < 8.0**2] = Tissue.FLUID
    ax_, _ = body.aorta_xy
    ay_ = body.spine_y - 25.0
    tissue[interior & ((x - ax_) ** 2 + (y - ay_) ** 2 < body.aorta_r**2)] = Tissue.BLOOD

    # --- heart (only points near it) ---
    h = body.heart
    hc = h.to_heart(points)
    hgrid = hc.reshape(grid.shape)
    near = (
        (hc[:, 0] > -130) & (hc[:, 0] < 80) & (hc[:, 1] > -95) & (hc[:, 1] < 80)
        & (hc[:, 2] > -90) & (hc[:, 2] < h.outer_length + 25)
    )
    idx = np.nonzero(near)[0]
    if idx.size:
        smooth = {
            "disp": _smooth_on(h.deform, hgrid)[idx],
            "shape": _smooth_on(h.shape_field, hgrid)[idx],
            "fat": _smooth_on(h.fat_field, hgrid)[idx],
        }
        t_sub, l_sub, les_sub = _heart(h, hc[idx], smooth)
        keep = t_sub >= 0
        tissue[idx[keep]] = t_sub[keep]
        label[idx[keep]] = l_sub[keep]
        lesion[idx] = les_sub
    return Sampled(tissue=tissue, label=label, lesion=lesion, texture=texture)


def _smooth_on(fn, grid: np.ndarray) -> np.ndarray:
    """A smooth field on a ([n_depth,] R, C, 3) grid: evaluated on the centre depth only (fields vary over tens
    of mm, slices are 6-8 mm thick) at every 4th row/column, interpolated, repeated over depths. Flat output."""
    g = grid if grid.ndim == 4 else grid[None]
    centre = on_grid(fn, g[g.shape[0] // 2])  # (R, C[, k])
    out = np.broadcast_to(centre[None], (g.shape[0], *centre.shape))
    return out.reshape(-1, *centre.shape[2:])


def _heart(h: Heart, hc: np.ndarray, smooth: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue (-1 = not heart), label and lesion weight at heart-frame points (smooth fields given)."""
    n = hc.shape[0]
    tissue = np.full(n, -1, dtype=np.int8)
    label = np.zeros(n, dtype=np.uint8)
    lesion = np.zeros(n, dtype=np.float32)
    hd = hc + smooth["disp"]
    u, v, w = hd[:, 0], hd[:, 1], hd[:, 2]
    theta = np.arctan2(v, u)
    g = np.ones_like(u)
    for k, amp, ph in h.harmonics:
        g += amp * np.cos(k * theta + ph)
    rho = np.sqrt((u / np.sqrt(h.ecc)) ** 2 + (v * np.sqrt(h.ecc)) ** 2)
    s_w = np.clip(w / h.L, 0.0, 1.0)
    rc_base = h.R * g
    t = (h.t_base + (h.t_apex - h.t_base) * s_w**2) * (1.0 + h.septal_extra * np.maximum(0.0, -np.cos(theta)) ** 2)
    t *= 1.0 + 0.08 * smooth["shape"]
    r_cav = rc_base * _prof(w / h.L, h.p_shape)
    r_out = (rc_base + t) * _prof(w / h.outer_length, h.p_shape)
    w_mv = h.base_tilt[0] * np.cos(theta - h.base_tilt[1])
    in_lv_outer = (rho < r_out) & (w >= w_mv)
    in_cav = (rho < r_cav) & (w >= w_mv)

    # RV: ellipse around the septum, minus the LV
    q = np.sqrt(((u - h.rv_cu) / h.rv_ru) ** 2 + ((v - h.rv_cv) / h.rv_rv) ** 2)
    q_o = np.sqrt(((u - h.rv_cu) / (h.rv_ru + h.rv_wall)) ** 2 + ((v - h.rv_cv) / (h.rv_rv + h.rv_wall)) ** 2)
    s_rv = (w - h.w_tv) / (h.rv_len - h.w_tv)
    rv_cav = (q < _prof(s_rv, h.p_shape)) & (w >= h.w_tv) & ~in_lv_outer
    rv_out = (q_o < _prof((w - h.w_tv) / (h.rv_len + h.rv_wall - h.w_tv), h.p_shape)) & (w >= h.w_tv) & ~in_lv_outer

    # epicardial fat: a variable layer around both ventricles
    fat_t = np.maximum(0.0, h.fat_mean * (1.0 + 1.3 * smooth["fat"])) + 3.0 * np.exp(-((w / 12.0) ** 2))
    lv_fat = (rho < (rc_base + t + fat_t) * _prof(w / (h.outer_length + fat_t), h.p_shape)) & (w >= w_mv - 4)
    qf = np.sqrt(((u - h.rv_cu) / (h.rv_ru + h.rv_wall + fat_t)) ** 2 + ((v - h.rv_cv) / (h.rv_rv + h.rv_wall + fat_t)) ** 2)
    rv_fat = (qf < _prof((w - h.w_tv) / (h.rv_len + h.rv_wall + fat_t - h.w_tv), h.p_shape)) & (w >= h.w_tv - 4)
    tissue[lv_fat | rv_fat] = Tissue.FAT

    # atria (label background) with thin walls
    la_c, la_a = np.array([0.15 * h.R, 0.35 * h.R, -24.0]), np.array([h.R + 5.0, 0.85 * h.R + 5.0, 27.0])
    ra_c = np.array([h.rv_cu - 0.1 * h.rv_ru, h.rv_cv + 8.0, h.w_tv - 26.0])
    ra_a = np.array([0.8 * h.rv_ru + 4.0, 27.0, 27.0])
    for c, a, limit in ((ra_c, ra_a, h.w_tv), (la_c, la_a, None)):
        e = np.sqrt((((hd - c) / a) ** 2).sum(axis=1))
        e_wall = np.sqrt((((hd - c) / (a + 2.0)) ** 2).sum(axis=1))
        atrium = e < 1.0
        wall = (e_wall < 1.0) & ~atrium
        upper = w < (limit if limit is not None else w_mv)
        tissue[wall & upper] = Tissue.RV_MYO
        label[wall & upper] = Label.BACKGROUND
        tissue[atrium & upper] = Tissue.BLOOD
        label[atrium & upper] = Label.BACKGROUND

    # RV wall and cavity, with trabeculae near the free wall
    rv_wall = rv_out & ~rv_cav
    tissue[rv_wall] = Tissue.RV_MYO
    label[rv_wall] = Label.RV
    tissue[rv_cav] = Tissue.RV_BLOOD
    label[rv_cav] = Label.RV
    rv_edge = rv_cav & (q > 0.85 * _prof(s_rv, h.p_shape))
    if rv_edge.any():
        trab = h.trab_field(hc[rv_edge]) > h.trab_threshold + 0.3
        sel = np.nonzero(rv_edge)[0][trab]
        tissue[sel] = Tissue.RV_MYO

    # LV myocardium, cavity, papillary muscles, trabeculae
    myo = in_lv_outer & ~in_cav
    tissue[myo] = Tissue.MYO
    label[myo] = Label.MYOCARDIUM
    tissue[in_cav] = Tissue.LV_BLOOD
    label[in_cav] = Label.LV_CAVITY
    depth = h.trab_depth * (1.0 + 1.5 * s_w)
    edge = in_cav & (rho > r_cav - depth)
    if edge.any():
        trab = h.trab_field(hc[edge]) > h.trab_threshold
        tissue[np.nonzero(edge)[0][trab]] = Tissue.MYO
    for th, rad, wc, wh in h.papillary:
        rc_pm = h.R * _prof(np.array([wc / h.L]), h.p_shape)[0] - 0.6 * rad
        pu, pv = rc_pm * np.cos(th), rc_pm * np.sin(th)
        pm = in_cav & (((u - pu) ** 2 + (v - pv) ** 2) / rad**2 + ((w - wc) / wh) ** 2 < 1.0)
        tissue[pm] = Tissue.MYO

    # LV outflow tract / aortic root: a tilted tube leaving the base anteroseptally
    ct, st = np.cos(h.lvot_theta), np.sin(h.lvot_theta)
    a0 = np.array([0.5 * h.R * ct, 0.5 * h.R * st, h.lvot_w_end])
    d = _unit(np.array([ct * np.tan(h.lvot_tilt), st * np.tan(h.lvot_tilt), -1.0]))
    rel = hd - a0
    along = rel @ d
    perp = np.linalg.norm(rel - along[:, None] * d[None, :], axis=1)
    tube = (along > 0) & (along < 90.0) & (perp < h.lvot_radius)
    lvot = tube & (rho < r_out + 1.0) & (w >= w_mv)
    tissue[tube] = Tissue.BLOOD
    label[tube] = Label.BACKGROUND
    tissue[lvot] = Tissue.LV_BLOOD
    label[lvot] = Label.LV_CAVITY

    # focal lesion inside the myocardium
    if h.lesion is not None:
        th0, half, w0, w1, transmural = h.lesion
        dth = np.angle(np.exp(1j * (theta - th0)))
        ang = 0.5 * (1.0 - np.tanh((np.abs(dth) - half) / 0.08))
        lon = 0.5 * (1.0 - np.tanh((np.abs(w - 0.5 * (w0 + w1)) - 0.5 * (w1 - w0)) / 3.0))
        frac = (rho - r_cav) / np.maximum(r_out - r_cav, 1e-3)
        tra = 0.5 * (1.0 - np.tanh((frac - transmural) / 0.1))
        m = label == Label.MYOCARDIUM
        lesion[m] = (ang * lon * tra)[m].astype(np.float32)
    return tissue, label, lesion
