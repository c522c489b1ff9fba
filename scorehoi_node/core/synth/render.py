"""Headless rendering of synthetic scenes (pyrender on OSMesa, CPU): RGB, metric depth and
instance masks from the same camera.

Set PYOPENGL_PLATFORM=osmesa before the first import of pyrender/OpenGL (the Makefile and the
tests do; `Renderer` sets it when unset).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from scorehoi_node.core.synth.camera import CameraPose
from scorehoi_node.core.types import CameraIntrinsics

#: optical (x right, y down, z forward) -> OpenGL camera (x right, y up, z backward)
_OPTICAL_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class RenderMesh:
    """A coloured triangle mesh in the world frame.

    Attributes:
        vertices: (V, 3) float world coordinates [m].
        faces: (F, 3) int triangle indices.
        colors: (V, 3) or (V, 4) uint8 vertex colours.
        instance_id: > 0 labels the mesh in the instance mask; 0 = background (not labelled).
        smooth: smooth shading (bodies) or flat (boxes, floors).
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    instance_id: int = 0
    smooth: bool = True


@dataclass(frozen=True)
class Lighting:
    """Key + fill directional lights and ambient light.

    Attributes:
        key_direction: (3,) world direction the key light shines along.
        key_intensity, fill_intensity: W/m^2-like pyrender intensities.
        ambient: ambient light level in [0, 1].
    """

    key_direction: np.ndarray
    key_intensity: float = 3.0
    fill_intensity: float = 1.0
    ambient: float = 0.35

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Lighting":
        az, el = rng.uniform(0, 2 * np.pi), rng.uniform(np.deg2rad(30), np.deg2rad(75))
        d = -np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)])
        return cls(key_direction=d, key_intensity=rng.uniform(2.0, 4.5),
                   fill_intensity=rng.uniform(0.5, 1.5), ambient=rng.uniform(0.25, 0.5))


@dataclass(frozen=True)
class RenderOutput:
    """Rendered images of one camera.

    Attributes:
        rgb: (H, W, 3) uint8.
        depth: (H, W) float32 z-depth along the optical axis [m]; NaN where nothing was hit.
        instances: (H, W) uint8 instance id per pixel (0 = background / unlabelled).
        amodal: instance id -> (H, W) bool silhouette of that instance's meshes alone (as if
            nothing occluded them), for the ids asked for.
    """

    rgb: np.ndarray
    depth: np.ndarray
    instances: np.ndarray
    amodal: dict[int, np.ndarray] = field(default_factory=dict)


def _direction_pose(direction: np.ndarray) -> np.ndarray:
    """4x4 pose whose -Z axis points along `direction` (pyrender directional lights)."""
    z = -direction / np.linalg.norm(direction)
    x = np.cross([0.0, 1.0, 0.0], z)
    if np.linalg.norm(x) < 1e-6:
        x = np.array([1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    return pose


class Renderer:
    """Offscreen renderer for one image size; reuse it across frames (context creation is slow)."""

    def __init__(self, width: int, height: int) -> None:
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
        import pyrender

        self._pyrender = pyrender
        self.width, self.height = width, height
        self._renderer = pyrender.OffscreenRenderer(width, height)

    def render(self, meshes: list[RenderMesh], camera: CameraIntrinsics, pose: CameraPose,
               lighting: Lighting, background: tuple[float, float, float] = (0.6, 0.65, 0.7),
               amodal: tuple[int, ...] = ()) -> RenderOutput:
        """RGB, depth and instance ids of `meshes`; plus, for each instance id in `amodal`, the
        silhouette of that instance alone (one extra segmentation pass each)."""
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(f"renderer is {self.width}x{self.height}, camera is "
                             f"{camera.width}x{camera.height}")
        import trimesh

        pr = self._pyrender
        scene = pr.Scene(ambient_light=[lighting.ambient] * 3, bg_color=[*background, 1.0])
        seg_map = {}
        for m in meshes:
            tm = trimesh.Trimesh(vertices=m.vertices, faces=m.faces, process=False)
            colors = np.asarray(m.colors, dtype=np.uint8)
            if colors.shape[1] == 3:
                colors = np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], 1)
            tm.visual.vertex_colors = colors
            node = scene.add(pr.Mesh.from_trimesh(tm, smooth=m.smooth))
            seg_map[node] = (m.instance_id, m.instance_id, m.instance_id)
        # camera: world -> optical given; pyrender wants camera -> world in OpenGL axes
        cam_to_world = np.eye(4)
        cam_to_world[:3, :3] = pose.R.T
        cam_to_world[:3, 3] = pose.position
        cam_node = pr.IntrinsicsCamera(camera.fx, camera.fy, camera.cx, camera.cy,
                                       znear=0.05, zfar=100.0)
        scene.add(cam_node, pose=cam_to_world @ _OPTICAL_TO_GL)
        scene.add(pr.DirectionalLight(intensity=lighting.key_intensity),
                  pose=_direction_pose(lighting.key_direction))
        fill = -lighting.key_direction * np.array([1.0, -0.3, 1.0])
        scene.add(pr.DirectionalLight(intensity=lighting.fill_intensity),
                  pose=_direction_pose(fill))
        rgb, depth = self._renderer.render(scene)
        seg, _ = self._renderer.render(scene, flags=pr.RenderFlags.SEG, seg_node_map=seg_map)
        depth = depth.astype(np.float32)
        depth[depth <= 0] = np.nan
        alone = {}
        for k in amodal:
            only = {node: ids for node, ids in seg_map.items() if ids[0] == k}
            mask, _ = self._renderer.render(scene, flags=pr.RenderFlags.SEG, seg_node_map=only)
            alone[k] = mask[:, :, 0] == k
        return RenderOutput(rgb=np.ascontiguousarray(rgb[:, :, :3]), depth=depth,
                            instances=np.ascontiguousarray(seg[:, :, 0]), amodal=alone)

    def close(self) -> None:
        self._renderer.delete()
