"""Appearance of synthetic scenes: clothing colours on the body, object colours, a tiled floor
and a back wall, all as vertex-coloured `RenderMesh`es.

Why this setup: a uniformly coloured body in front of a flat background is not a person to a
detector. With part colours (skin, hair, shirt, trousers, shoes), a textured floor, a coloured
wall behind the person and key + fill + ambient light, MediaPipe Pose finds the rendered person
(DESIGN §6; measured again by `scripts/render_samples.py`).

World frame: metres, +Y up, floor at y = 0 (as `synth.scene`). Colours are uint8 RGB.
Everything random takes a `np.random.Generator`, so a seed fixes the look of a scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehoi_node.core.synth.render import RenderMesh

#: appearance part of each body vertex (values of `BodyParts.labels`), in label order
PART_NAMES = ("skin", "hair", "shirt", "sleeve", "forearm", "trousers", "shoes", "eyes")
SKIN, HAIR, SHIRT, SLEEVE, FOREARM, TROUSERS, SHOES, EYES = range(len(PART_NAMES))

#: skin tones from light to dark (sRGB), sampled along this polyline
SKIN_TONES = np.array([(246, 208, 182), (232, 184, 150), (214, 160, 122), (190, 134, 96),
                       (156, 104, 70), (118, 76, 50), (84, 54, 38)], dtype=np.float64)
HAIR_COLORS = np.array([(28, 24, 22), (52, 36, 26), (86, 58, 38), (128, 90, 56),
                        (196, 162, 108), (142, 70, 40), (150, 148, 144)], dtype=np.float64)
TROUSER_COLORS = np.array([(46, 62, 104), (70, 96, 140), (30, 30, 34), (84, 84, 88),
                           (156, 136, 100), (96, 80, 60), (40, 58, 44)], dtype=np.float64)
SHOE_COLORS = np.array([(24, 24, 26), (236, 236, 232), (92, 60, 40), (60, 60, 66),
                        (150, 40, 40)], dtype=np.float64)

#: plausible colours per object template id; unknown ids get a random saturated colour
OBJECT_COLORS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "mug": ((238, 236, 230), (190, 40, 36), (40, 80, 160), (30, 30, 32), (236, 190, 60)),
    "bottle": ((40, 130, 70), (70, 140, 200), (230, 230, 236), (200, 60, 40), (30, 30, 30)),
    "ball": ((240, 240, 236), (240, 120, 30), (210, 40, 40), (240, 210, 40), (40, 110, 200)),
    "box": ((176, 132, 84), (196, 156, 104), (150, 110, 70), (220, 210, 190)),
    "stool": ((140, 96, 56), (110, 72, 40), (30, 30, 32), (230, 230, 226), (180, 40, 40)),
    "chair": ((140, 96, 56), (100, 66, 38), (30, 30, 32), (230, 230, 226), (60, 90, 140)),
    "table": ((164, 118, 74), (120, 82, 48), (228, 224, 214), (40, 40, 42)),
    "backpack": ((30, 30, 34), (30, 50, 100), (170, 40, 40), (60, 90, 60), (220, 120, 30)),
}

#: anny bone-name stems -> appearance part (everything else: skin)
_BONE_PARTS = (
    (("foot", "toe"), SHOES),
    (("upperleg", "lowerleg", "pelvis", "root", "spine05"), TROUSERS),
    (("upperarm",), SLEEVE),
    (("lowerarm",), FOREARM),
    (("spine", "clavicle", "shoulder", "breast"), SHIRT),
    (("eye",), EYES),
)


@dataclass(frozen=True)
class BodyParts:
    """Appearance part of every body-model vertex (computed once per body model).

    Attributes:
        labels: (V,) uint8 index into `PART_NAMES`; "hair" holds the whole head region a
            hairstyle may cover, `hair_height` says how far down each of them sits.
        hair_height: (V,) float32 for head vertices: height above the eyes [m] on the face side,
            a large value elsewhere; hairstyles with a lower hairline colour more of them.
    """

    labels: np.ndarray
    hair_height: np.ndarray

    @classmethod
    def from_body(cls, body) -> "BodyParts":
        """Parts of an anny `BodyModel` from its skinning (dominant bone per vertex) and rest
        mesh (hair: the top and back of the head). Other backends raise ValueError."""
        if getattr(body, "name", None) != "anny":
            raise ValueError(f"appearance parts need the anny body model, got {body.name!r}")
        import torch

        from scorehoi_node.core.bodies.functional import dominant_bone

        anny = body.model
        bones = dominant_bone(anny.vertex_bone_weights, anny.vertex_bone_indices).numpy()
        names = list(anny.bone_labels)
        labels = np.full(len(bones), SKIN, np.uint8)
        for i, name in enumerate(names):
            stem = name.split(".")[0]
            for prefixes, part in _BONE_PARTS:
                if stem.startswith(prefixes):
                    labels[bones == i] = part
                    break
        with torch.no_grad():
            rest = body(**body.rest_inputs()).vertices[0].double().numpy()
        return cls.from_arrays(labels, rest, head=np.isin(bones, [names.index("head")]),
                               eyes=labels == EYES)

    @classmethod
    def from_arrays(cls, labels: np.ndarray, rest_vertices: np.ndarray, head: np.ndarray,
                    eyes: np.ndarray) -> "BodyParts":
        """Mark the hair region of the head.

        Args:
            labels: (V,) uint8 parts without hair.
            rest_vertices: (V, 3) rest-pose vertices in the body frame (+Y up, +Z forward).
            head: (V,) bool vertices of the head bone.
            eyes: (V,) bool eye vertices (their height is the reference level).
        """
        labels = np.array(labels, np.uint8)
        y, z = rest_vertices[:, 1], rest_vertices[:, 2]
        eye_y = float(y[eyes].mean()) if eyes.any() else float(y[head].mean())
        head_z = float(z[head].mean())
        # face side: hair starts ~6 cm above the eyes; sides/back: at about eye level, lower at
        # the back (nape).
        front = z > head_z + 0.02
        height = np.where(front, y - eye_y - 0.06, y - eye_y + 0.02 + np.clip(head_z - z, 0, 0.1))
        hair = head & (height > -0.02)
        labels[hair] = HAIR
        hair_height = np.where(hair, height, 1.0).astype(np.float32)
        return cls(labels=labels, hair_height=hair_height)


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float = 12.0) -> np.ndarray:
    c = palette[rng.integers(len(palette))] + rng.normal(scale=jitter, size=3)
    return np.clip(c, 0, 255)


def _hsv(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> np.ndarray:
    """A random colour of random hue with saturation / value in the given ranges."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*s), rng.uniform(*v))
    return np.array([r, g, b]) * 255


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """(3,) float RGB skin tone along `SKIN_TONES` with a small jitter."""
    t = rng.random() * (len(SKIN_TONES) - 1)
    i = min(int(t), len(SKIN_TONES) - 2)
    c = SKIN_TONES[i] + (t - i) * (SKIN_TONES[i + 1] - SKIN_TONES[i])
    return np.clip(c + rng.normal(scale=5.0, size=3), 0, 255)


def body_colors(parts: BodyParts, rng: np.random.Generator) -> np.ndarray:
    """(V, 3) uint8 vertex colours of one person: skin tone, hairstyle, a shirt of random colour
    (short sleeves 40 % of the time), trousers, shoes; a little per-vertex noise as texture."""
    skin = skin_tone(rng)
    shirt = _hsv(rng, (0.0, 0.85), (0.25, 0.95))
    colors = {
        SKIN: skin,
        HAIR: _pick(rng, HAIR_COLORS),
        SHIRT: shirt,
        SLEEVE: shirt,
        FOREARM: skin if rng.random() < 0.4 else shirt,
        TROUSERS: _pick(rng, TROUSER_COLORS) if rng.random() < 0.8 else _hsv(rng, (0.1, 0.6), (0.2, 0.7)),
        SHOES: _pick(rng, SHOE_COLORS),
        EYES: np.array([40.0, 30.0, 26.0]),
    }
    table = np.stack([colors[i] for i in range(len(PART_NAMES))])
    labels = parts.labels.copy()
    # hairstyle: bald 5 %, else a hairline between 0 and 4 cm below the full region's edge
    if rng.random() < 0.05:
        labels[labels == HAIR] = SKIN
    else:
        hairline = rng.uniform(0.0, 0.04)
        labels[(labels == HAIR) & (parts.hair_height < hairline - 0.02)] = SKIN
    out = table[labels] * (1.0 + rng.normal(scale=0.03, size=(len(labels), 1)))
    return np.clip(out, 0, 255).astype(np.uint8)


def object_colors(template_id: str, num_vertices: int, rng: np.random.Generator) -> np.ndarray:
    """(Vo, 3) uint8 colours of an object: a plausible colour for `template_id`."""
    palette = OBJECT_COLORS.get(template_id)
    base = (_pick(rng, np.asarray(palette, np.float64), 10.0) if palette is not None
            else _hsv(rng, (0.4, 0.9), (0.4, 0.95)))
    out = base * (1.0 + rng.normal(scale=0.02, size=(num_vertices, 1)))
    return np.clip(out, 0, 255).astype(np.uint8)


def _quads(corners: np.ndarray, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 4, 3) quads (counter-clockwise seen from the visible side) + (N, 3) colours ->
    unshared vertices, two triangles per quad, per-vertex colours (flat colour per quad)."""
    n = len(corners)
    vertices = corners.reshape(-1, 3)
    base = 4 * np.arange(n)[:, None]
    faces = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]], axis=0)
    return vertices, faces.astype(np.int64), np.repeat(colors, 4, axis=0)


FLOOR_STYLES = ("checker", "tiles", "planks")


def floor_mesh(rng: np.random.Generator, center: np.ndarray, radius: float = 8.0) -> RenderMesh:
    """A square floor at y = 0 around `center` (world, only x and z used), `2*radius` wide,
    made of tiles coloured by vertex colours: a checker, grouted tiles or wooden planks."""
    style = FLOOR_STYLES[rng.integers(len(FLOOR_STYLES))]
    if style == "planks":
        base = _pick(rng, np.array([(150, 104, 64), (186, 140, 92), (112, 76, 46), (200, 170, 130)]))
        size = np.array([rng.uniform(0.8, 1.6), rng.uniform(0.12, 0.22)])
    else:
        base = _hsv(rng, (0.0, 0.45), (0.3, 0.85))
        size = np.full(2, rng.uniform(0.3, 0.8))
    other = np.clip(base * rng.uniform(0.55, 0.8) if rng.random() < 0.7 else _hsv(rng, (0.0, 0.4), (0.2, 0.9)), 0, 255)
    nx, nz = np.ceil(2 * radius / size).astype(int)
    ix, iz = np.meshgrid(np.arange(nx), np.arange(nz), indexing="ij")
    ix, iz = ix.ravel(), iz.ravel()
    x0 = center[0] - radius + ix * size[0]
    z0 = center[2] - radius + iz * size[1]
    if style == "planks":  # staggered rows
        x0 = x0 + (iz % 3) * size[0] / 3
    gap = 0.01 if style == "tiles" else 0.0
    corners = np.stack([
        np.stack([x0 + gap, np.zeros_like(x0), z0 + gap], 1),
        np.stack([x0 + gap, np.zeros_like(x0), z0 + size[1] - gap], 1),
        np.stack([x0 + size[0] - gap, np.zeros_like(x0), z0 + size[1] - gap], 1),
        np.stack([x0 + size[0] - gap, np.zeros_like(x0), z0 + gap], 1),
    ], axis=1)
    if style == "checker":
        colors = np.where(((ix + iz) % 2 == 0)[:, None], base, other)
    else:
        colors = base * rng.uniform(0.85, 1.12, size=(len(ix), 1))
    colors = np.clip(colors * (1 + rng.normal(scale=0.03, size=(len(ix), 1))), 0, 255)
    vertices, faces, vcolors = _quads(corners, colors)
    if style == "tiles":  # grout underneath: one dark quad just below the tiles
        grout = np.array([[[center[0] - radius, -0.002, center[2] - radius],
                           [center[0] - radius, -0.002, center[2] + radius],
                           [center[0] + radius, -0.002, center[2] + radius],
                           [center[0] + radius, -0.002, center[2] - radius]]])
        gv, gf, gc = _quads(grout, other[None] * 0.6)
        vertices = np.concatenate([vertices, gv])
        faces = np.concatenate([faces, gf + len(corners) * 4])
        vcolors = np.concatenate([vcolors, gc])
    return RenderMesh(vertices=vertices.astype(np.float32), faces=faces,
                      colors=vcolors.astype(np.uint8), instance_id=0, smooth=False)


def wall_mesh(rng: np.random.Generator, camera_position: np.ndarray, points: np.ndarray,
              width: float = 24.0) -> RenderMesh:
    """A vertical wall behind `points` (world, the person and object) as seen from
    `camera_position`, facing the camera, 0.5-2.5 m behind the farthest point: coloured panels
    with a darker skirting board."""
    view = points.mean(axis=0) - camera_position
    view[1] = 0.0
    view /= np.linalg.norm(view)
    depth = float(((points - camera_position) @ view).max()) + rng.uniform(0.5, 2.5)
    origin = camera_position * np.array([1.0, 0.0, 1.0]) + depth * view
    side = np.cross(view, [0.0, 1.0, 0.0])  # horizontal, along the wall
    height = rng.uniform(2.6, 3.6)
    base = _hsv(rng, (0.0, 0.5), (0.45, 0.95))
    panel = rng.uniform(0.5, 1.5)
    n = int(np.ceil(width / panel))
    s0 = -width / 2 + panel * np.arange(n)
    skirting = rng.uniform(0.06, 0.15)
    rows = [(skirting, height)]
    if rng.random() < 0.5:  # a dado rail splits the wall in two tones
        rail = rng.uniform(0.8, 1.1)
        rows = [(skirting, rail), (rail, height)]
    up = np.array([0.0, 1.0, 0.0])
    corners, colors = [], []
    for k, (y0, y1) in enumerate(rows):
        tone = base if k == len(rows) - 1 else base * rng.uniform(0.6, 0.85)
        for s in s0:
            a, b = origin + s * side, origin + (s + panel) * side
            # counter-clockwise seen from the camera (normal = -view)
            corners.append([a + y0 * up, a + y1 * up, b + y1 * up, b + y0 * up])
            colors.append(tone * rng.uniform(0.95, 1.05))
    a, b = origin - width / 2 * side, origin + width / 2 * side
    # the skirting reaches 2 cm below the floor: no depth tie along the floor line, whose
    # winner would depend on pyrender's (unordered) draw order
    corners.append([a - 0.02 * up, a + skirting * up, b + skirting * up, b - 0.02 * up])
    colors.append(base * 0.35)
    corners_arr = np.asarray(corners, np.float64)
    if np.dot(np.cross(corners_arr[0, 1] - corners_arr[0, 0], corners_arr[0, 2] - corners_arr[0, 0]), view) > 0:
        corners_arr = corners_arr[:, ::-1]  # make the front face point at the camera
    vertices, faces, vcolors = _quads(corners_arr, np.clip(np.asarray(colors), 0, 255))
    return RenderMesh(vertices=vertices.astype(np.float32), faces=faces,
                      colors=vcolors.astype(np.uint8), instance_id=0, smooth=False)
