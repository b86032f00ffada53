"""DICOM <-> MRD image geometry.

MRD (image header): `position` is the centre of the image in patient coordinates (mm, LPS like DICOM);
`read_dir` points along increasing column index (x), `phase_dir` along increasing row index (y),
`field_of_view` = (columns * column spacing, rows * row spacing, slice thickness), matrix_size = (cols, rows, 1).

DICOM: ImagePositionPatient (IPP) is the centre of the first transmitted (top-left) pixel;
ImageOrientationPatient (IOP) = row direction cosines (along a row = increasing column) then column direction
cosines (increasing row); PixelSpacing = (row spacing = distance between rows, column spacing).

So read_dir = IOP[0:3], phase_dir = IOP[3:6], and the image centre is the centre of pixel
((rows-1)/2, (cols-1)/2), as in myoseg.core.types.Geometry.pixel_to_patient:
    position = IPP + (cols-1)/2 * dx * read_dir + (rows-1)/2 * dy * phase_dir.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlaneGeometry:
    rows: int
    cols: int
    spacing_mm: tuple[float, float]  # (row spacing dy, column spacing dx), DICOM PixelSpacing order
    thickness_mm: float
    position: tuple[float, float, float]  # image centre (MRD)
    read_dir: tuple[float, float, float]
    phase_dir: tuple[float, float, float]

    @property
    def slice_dir(self) -> tuple[float, float, float]:
        n = np.cross(np.asarray(self.read_dir), np.asarray(self.phase_dir))
        norm = float(np.linalg.norm(n))
        n = n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
        return (float(n[0]), float(n[1]), float(n[2]))

    @property
    def field_of_view(self) -> tuple[float, float, float]:
        dy, dx = self.spacing_mm
        return (float(self.cols * dx), float(self.rows * dy), float(self.thickness_mm))

    @property
    def image_position_patient(self) -> tuple[float, float, float]:
        dy, dx = self.spacing_mm
        p = (np.asarray(self.position, dtype=np.float64)
             - (self.cols - 1) / 2.0 * dx * np.asarray(self.read_dir, dtype=np.float64)
             - (self.rows - 1) / 2.0 * dy * np.asarray(self.phase_dir, dtype=np.float64))
        return (float(p[0]), float(p[1]), float(p[2]))

    @property
    def image_orientation_patient(self) -> tuple[float, ...]:
        return (*map(float, self.read_dir), *map(float, self.phase_dir))

    @classmethod
    def from_dicom(cls, rows: int, cols: int, ipp, iop, pixel_spacing, thickness_mm: float) -> PlaneGeometry:
        ipp_a = np.asarray([float(v) for v in ipp], dtype=np.float64)
        iop_a = np.asarray([float(v) for v in iop], dtype=np.float64)
        if ipp_a.shape != (3,) or iop_a.shape != (6,):
            raise ValueError(f"bad ImagePositionPatient/ImageOrientationPatient lengths {ipp_a.shape}/{iop_a.shape}")
        read = _unit(iop_a[:3], "row direction")
        phase = _unit(iop_a[3:], "column direction")
        dy, dx = (float(pixel_spacing[0]), float(pixel_spacing[1]))
        if not (dy > 0 and dx > 0):
            raise ValueError(f"bad PixelSpacing {list(pixel_spacing)}")
        centre = ipp_a + (cols - 1) / 2.0 * dx * read + (rows - 1) / 2.0 * dy * phase
        return cls(rows=int(rows), cols=int(cols), spacing_mm=(dy, dx), thickness_mm=float(thickness_mm),
                   position=_t(centre), read_dir=_t(read), phase_dir=_t(phase))

    @classmethod
    def from_mrd(cls, image) -> PlaneGeometry:
        """From an ismrmrd.Image header (matrix_size and field_of_view give the spacing)."""
        cols, rows = int(image.matrix_size[0]), int(image.matrix_size[1])
        fov = [float(v) for v in image.field_of_view]
        dx = fov[0] / cols if fov[0] > 0 else 1.0
        dy = fov[1] / rows if fov[1] > 0 else 1.0
        read = np.asarray([float(v) for v in image.read_dir])
        phase = np.asarray([float(v) for v in image.phase_dir])
        if np.linalg.norm(read) < 1e-6 or np.linalg.norm(phase) < 1e-6:
            read, phase = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
        return cls(rows=rows, cols=cols, spacing_mm=(dy, dx), thickness_mm=fov[2] if fov[2] > 0 else 1.0,
                   position=_t(np.asarray([float(v) for v in image.position])),
                   read_dir=_t(_unit(read, "read_dir")), phase_dir=_t(_unit(phase, "phase_dir")))

    def apply_to(self, image) -> None:
        """Write this geometry into an ismrmrd.Image header."""
        image.field_of_view[:] = self.field_of_view
        image.position[:] = self.position
        image.read_dir[:] = self.read_dir
        image.phase_dir[:] = self.phase_dir
        image.slice_dir[:] = self.slice_dir


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError(f"degenerate {what} in ImageOrientationPatient")
    return v / norm


def _t(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))
