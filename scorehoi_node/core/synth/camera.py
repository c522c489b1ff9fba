"""Robot-like cameras for synthetic scenes: intrinsics and a look-at pose around the person.

World frame: Y up, floor at y = 0. Camera frame: the optical frame (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehoi_node.core.types import CameraIntrinsics


@dataclass(frozen=True)
class CameraPose:
    """World -> camera (optical) rigid transform: x_cam = R @ x_world + t.

    Attributes:
        R: (3, 3) float64 rotation.
        t: (3,) float64 translation [m].
    """

    R: np.ndarray
    t: np.ndarray

    @property
    def position(self) -> np.ndarray:
        """(3,) camera centre in the world [m]."""
        return -self.R.T @ self.t

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> camera-frame points."""
        return points_world @ self.R.T + self.t

    def floor_plane(self) -> np.ndarray:
        """(4,) the world floor y = 0 as (n, d) in the camera frame: n·x + d = 0, above > 0."""
        n = self.R @ np.array([0.0, 1.0, 0.0])
        return np.r_[n, -n @ self.t]


@dataclass(frozen=True)
class CameraSampler:
    """Distribution of robot cameras (defaults: issue spec — 640x480, 55-90 deg horizontal FoV,
    1.5-5 m from the person, 0.5-1.8 m above the floor).

    Attributes:
        width, height: image size [px].
        hfov_deg: (min, max) horizontal field of view [deg].
        distance_m: (min, max) horizontal distance to the look-at point [m].
        height_m: (min, max) camera height above the floor [m].
        azimuth_deg: (min, max) camera direction around the person relative to where they face
            (0 = in front); wrapped by 180 deg with probability `back_view_prob`.
        back_view_prob: probability of a view from behind.
        fit_margin: the person's height times this must fit vertically in the image.
        min_person_px: the person must be at least this many pixels tall (limits the
            distance for wide lenses: at 5 m a 90 deg lens images an adult ~110 px tall, below
            what keypoint detectors resolve; robots that need far people use narrower lenses).
    """

    width: int = 640
    height: int = 480
    hfov_deg: tuple[float, float] = (55.0, 90.0)
    distance_m: tuple[float, float] = (1.5, 5.0)
    height_m: tuple[float, float] = (0.5, 1.8)
    azimuth_deg: tuple[float, float] = (-75.0, 75.0)
    back_view_prob: float = 0.1
    fit_margin: float = 1.15
    min_person_px: float = 160.0

    def sample(self, rng: np.random.Generator, target: np.ndarray, facing: np.ndarray,
               person_height: float) -> tuple[CameraIntrinsics, CameraPose]:
        """A camera looking at `target` (world, e.g. the torso centre) from around `facing`
        (unit horizontal vector the person faces), far enough to see `person_height`."""
        hfov = rng.uniform(*self.hfov_deg)
        cam = CameraIntrinsics.from_fov(self.width, self.height, hfov)
        vfov = 2 * np.arctan(self.height / 2 / cam.fy)
        d_min = max(self.distance_m[0], self.fit_margin * person_height / 2 / np.tan(vfov / 2))
        d_max = min(self.distance_m[1], cam.fy * person_height / self.min_person_px)
        dist = rng.uniform(min(d_min, d_max), max(d_min, d_max))
        az = np.deg2rad(rng.uniform(*self.azimuth_deg))
        if rng.random() < self.back_view_prob:
            az += np.pi
        f = np.array([facing[0], 0.0, facing[2]])
        f /= np.linalg.norm(f)
        c, s = np.cos(az), np.sin(az)
        direction = np.array([c * f[0] + s * f[2], 0.0, -s * f[0] + c * f[2]])
        eye = np.array([target[0], rng.uniform(*self.height_m), target[2]]) + dist * direction
        look = target + rng.normal(scale=0.05, size=3)
        return cam, look_at(eye, look)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 1.0, 0.0])
            ) -> CameraPose:
    """Optical-frame camera at `eye` looking at `target` with the image's up along world `up`."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)          # optical x (right) = forward x up... up is -y
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)           # optical y points down
    R = np.stack([x, y, z])      # rows: camera axes in world coordinates
    return CameraPose(R=R, t=-R @ eye)
