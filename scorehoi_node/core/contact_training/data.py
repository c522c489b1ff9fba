"""Training and evaluation data of the learned contact predictor (`contact_net`).

Data come only from the synthetic engine: render-free `HOIShard`s (`synth_samples`, the samples
of `scorehoi synth --no-render`). `write_contact_shards` writes them with a sidecar
`interactions.json` (sequence -> interaction type, which the shards do not store) so results can
be broken down by interaction; the samples are the same as the CLI's for the same seed and
scene count (they depend only on (seed, scene index)).

`ContactExamples.from_shards` reads shards into clean raw states (`StateLayout`, pelvis frame)
with their ground-truth contact labels. `ContactExamples.corrupt` draws inputs the way a real
initial estimate or an intermediate refinement state is wrong: the perturbation model of the
refinement ablation (`diffusion.dataset.Corruption`: joint rotations 0.15 rad, root 0.12 rad,
object rotation 0.25 rad with 30 % yaw flips, object translation 7 cm, shape 0.08), with every
sigma scaled per sample by a factor drawn from `CorruptionMix.scales` (1 = the initial estimate,
smaller = a partly refined state, 0 = the ground truth itself). `pose_examples` runs the body
model on the corrupted states and returns what the predictor sees (contact-subset vertices and
joints in the body frame of the pelvis, the object pose in that frame).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import roma
import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.bodies.layout import HOIStateParts, StateLayout
from scorehoi_node.core.data.shards import HOIShard, concat_shards, iter_shards
from scorehoi_node.core.diffusion.dataset import Corruption
from scorehoi_node.core.diffusion.state import CameraFrameHOI, StateCodec

INTERACTIONS_FILE = "interactions.json"
#: interaction label of samples whose shards came without an `interactions.json`
UNKNOWN_INTERACTION = "unknown"


# -- writing -----------------------------------------------------------------------------------
def write_contact_shards(out_dir: str | Path, n_scenes: int, seed: int,
                         frames_per_scene: int = 1, shard_size: int = 256,
                         on_scene: Callable[[], None] | None = None) -> list[Path]:
    """Render-free samples of `n_scenes` scenes of `seed` (one camera each) as HOIShards in
    `out_dir/shards` plus `out_dir/interactions.json` ({sequence: interaction}); the samples are
    those of `scorehoi synth --no-render --frames n_scenes --seq-len frames_per_scene --seed
    seed`. Returns the shard paths."""
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.synth.frames import SynthContext
    from scorehoi_node.core.synth.generator import SceneGenerator
    from scorehoi_node.core.synth.samples import synth_samples, write_sample_shards

    out_dir = Path(out_dir)
    body = make_body_model("anny")
    library = load_library()
    kinds: dict[str, str] = {}

    def tracked() -> Iterator:
        for sample in synth_samples(n_scenes, seed, generator=SceneGenerator(body, library),
                                    context=SynthContext.from_body(body, library),
                                    frames_per_scene=frames_per_scene):
            kinds[sample.sequence] = sample.interaction
            yield sample
            if sample.frame_index == frames_per_scene - 1 and on_scene is not None:
                on_scene()

    paths = write_sample_shards(out_dir / "shards", tracked(), body.name, shard_size)
    (out_dir / INTERACTIONS_FILE).write_text(json.dumps(kinds, indent=1, sort_keys=True))
    return paths


# -- reading -------------------------------------------------------------------------------------
def read_interactions(directory: str | Path, sequences: Sequence[str]) -> list[str]:
    """Interaction of each sequence from `directory/interactions.json` (or of its parent when
    `directory` is a `shards` folder); `UNKNOWN_INTERACTION` where there is none."""
    directory = Path(directory)
    for candidate in (directory / INTERACTIONS_FILE, directory.parent / INTERACTIONS_FILE):
        if candidate.is_file():
            kinds = json.loads(candidate.read_text())
            return [kinds.get(s, UNKNOWN_INTERACTION) for s in sequences]
    return [UNKNOWN_INTERACTION] * len(sequences)


def shard_dir(directory: str | Path) -> Path:
    """The folder holding the shards: `directory/shards` when it exists, else `directory`."""
    directory = Path(directory)
    return directory / "shards" if (directory / "shards").is_dir() else directory


@dataclass(frozen=True)
class ContactExamples:
    """N clean samples: raw states (`StateLayout`), object template, GT contacts, interaction.

    Attributes:
        raw: (N, D) float32 clean raw states (object pose relative to the pelvis frame).
        template_ids: N object template ids.
        labels: (N, C) bool ground-truth contact of each contact-subset vertex.
        interactions: N interaction types (`UNKNOWN_INTERACTION` when unknown).
        sequences: N sequence (scene) names: frames of one scene share it.
    """

    raw: torch.Tensor
    template_ids: tuple[str, ...]
    labels: torch.Tensor
    interactions: tuple[str, ...]
    sequences: tuple[str, ...]

    def __len__(self) -> int:
        return self.raw.shape[0]

    def subset(self, idx: torch.Tensor) -> "ContactExamples":
        keep = idx.tolist()
        return ContactExamples(self.raw[idx], tuple(self.template_ids[i] for i in keep),
                               self.labels[idx], tuple(self.interactions[i] for i in keep),
                               tuple(self.sequences[i] for i in keep))

    @classmethod
    def from_dirs(cls, directories: Iterable[str | Path], body: BodyModel) -> "ContactExamples":
        """Every sample of the HOIShards under `directories` (`shard_dir`) that has contact
        labels; states packed with the pelvis of `body` (`rest_pelvis`)."""
        parts = []
        for directory in directories:
            shard = concat_shards(list(iter_shards(shard_dir(directory))))
            parts.append(cls.from_shard(shard, body,
                                        read_interactions(directory, shard.sequence)))
        return cls(torch.cat([p.raw for p in parts]), sum((p.template_ids for p in parts), ()),
                   torch.cat([p.labels for p in parts]), sum((p.interactions for p in parts), ()),
                   sum((p.sequences for p in parts), ()))

    @classmethod
    def from_shard(cls, shard: HOIShard, body: BodyModel,
                   interactions: Sequence[str]) -> "ContactExamples":
        if shard.body_model != body.name:
            raise ValueError(f"shard of body model {shard.body_model!r}, predictor for "
                             f"{body.name!r}")
        if shard.contact_labels is None:
            raise ValueError("shards without contact labels cannot train the contact net")
        f = dict(dtype=torch.float32)
        root = torch.tensor(shard.root_rotmat, **f)
        shape = torch.tensor(shard.shape, **f)
        pelvis = root @ rest_pelvis(body, shape)[..., None]
        hoi = CameraFrameHOI(
            root_rotmat=root, body_pose_rotmat=torch.tensor(shard.body_pose_rotmat, **f),
            shape=shape, pelvis=pelvis[..., 0] + torch.tensor(shard.root_transl, **f),
            object_rotmat=torch.tensor(shard.object_rotmat, **f),
            object_transl=torch.tensor(shard.object_transl, **f))
        return cls(StateCodec(body.state_layout).pack(hoi), tuple(shard.object_id),
                   torch.tensor(shard.contact_labels, dtype=torch.bool), tuple(interactions),
                   tuple(shard.sequence))


def rest_pelvis(body: BodyModel, shape: torch.Tensor) -> torch.Tensor:
    """(N, 3) pelvis of the rest pose with `shape` (N, S), identity root and no translation:
    where `BodyModel.forward`'s `root_transl` convention puts the pelvis relative to it."""
    inputs = body.rest_inputs(1)
    unique, inverse = torch.unique(shape, dim=0, return_inverse=True)
    with torch.no_grad():
        joints = body(inputs["body_pose_rotmat"].expand(len(unique), -1, -1, -1),
                      unique.to(body.dtype), inputs["root_rotmat"].expand(len(unique), -1, -1),
                      inputs["root_transl"].expand(len(unique), -1)).joints
    return joints[inverse, 0].float()


# -- corrupted inputs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CorruptionMix:
    """How far training inputs are from the ground truth.

    Every sample draws a scale s from `scales` (with `weights`); its body pose, root, shape and
    object pose get the noise of `corruption` with every sigma times s. An object yaw flip
    (probability `corruption.object_yaw_flip`) is drawn for every s > 0: refinement rarely
    undoes a wrong yaw, so partly refined states keep it. s = 1 is the initial estimate of the
    refinement ablation, s < 1 a state that refinement has improved, s = 0 the ground truth.
    """

    scales: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.25)
    weights: tuple[float, ...] = (0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5)
    corruption: Corruption = Corruption()

    def __post_init__(self) -> None:
        if len(self.scales) != len(self.weights) or not self.scales:
            raise ValueError("scales and weights must be non-empty and of equal length")
        if min(self.scales) < 0 or min(self.weights) < 0 or sum(self.weights) <= 0:
            raise ValueError("scales and weights must be >= 0 (weights not all 0)")

    def draw(self, n: int, g: torch.Generator) -> torch.Tensor:
        """(n,) scales."""
        w = torch.tensor(self.weights, dtype=torch.float64)
        return torch.tensor(self.scales)[torch.multinomial(w, n, replacement=True, generator=g)]


def _noisy_rotation(rotmat: torch.Tensor, sigma: torch.Tensor, g: torch.Generator
                    ) -> torch.Tensor:
    """exp([n]x) R with n ~ N(0, sigma^2 I) per rotation; `sigma` broadcasts over rotmat[..., 0, 0]."""
    noise = torch.randn(*rotmat.shape[:-2], 3, generator=g) * sigma[..., None]
    return roma.rotvec_to_rotmat(noise) @ rotmat


def corrupt_states(raw: torch.Tensor, layout: StateLayout, mix: CorruptionMix,
                   g: torch.Generator, scales: torch.Tensor | None = None) -> torch.Tensor:
    """(B, D) raw states with the noise of `mix` (per-sample scale: `scales` or drawn)."""
    c = mix.corruption
    p = layout.unpack(raw)
    B = raw.shape[0]
    s = mix.draw(B, g) if scales is None else scales
    yaw = torch.rand(B, generator=g) * 2 * math.pi
    spin = roma.rotvec_to_rotmat(torch.stack([torch.zeros(B), yaw, torch.zeros(B)], 1))
    flip = (torch.rand(B, generator=g) < c.object_yaw_flip) & (s > 0)
    obj = torch.where(flip[:, None, None], p.object_rotmat @ spin, p.object_rotmat)
    joint_sigma = (s * c.joint_rot)[:, None].expand(B, layout.num_pose_joints)
    return layout.pack(HOIStateParts(
        root_rotmat=_noisy_rotation(p.root_rotmat, s * c.root_rot, g),
        body_pose_rotmat=_noisy_rotation(p.body_pose_rotmat, joint_sigma, g),
        object_rotmat=_noisy_rotation(obj, s * c.object_rot, g),
        object_transl=p.object_transl + torch.randn(B, 3, generator=g) * (s * c.object_transl)[:, None],
        shape=p.shape + torch.randn(p.shape.shape, generator=g) * (s * c.shape)[:, None]))


@dataclass(frozen=True)
class PosedExamples:
    """Posed (corrupted) states as the predictor sees them, body-model frame (pelvis frame of
    the raw state's root; `contact_net.body_frame` re-derives its own frame from the joints).

    Attributes:
        vertices: (N, C, 3) contact-subset vertices [m].
        joints: (N, J, 3) joints [m].
        object_rotmat: (N, 3, 3), object_transl: (N, 3) object pose in the same frame.
        template_ids: N template ids; labels: (N, C) bool GT; interactions: N types;
        scales: (N,) corruption scale of each sample (`CorruptionMix`).
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    object_rotmat: torch.Tensor
    object_transl: torch.Tensor
    template_ids: tuple[str, ...]
    labels: torch.Tensor
    interactions: tuple[str, ...]
    scales: torch.Tensor

    def __len__(self) -> int:
        return self.vertices.shape[0]

    def subset(self, idx: torch.Tensor) -> "PosedExamples":
        keep = idx.tolist()
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = (tuple(value[i] for i in keep) if isinstance(value, tuple)
                           else value[idx])
        return PosedExamples(**out)

    @staticmethod
    def cat(parts: Sequence["PosedExamples"]) -> "PosedExamples":
        out = {}
        for f in fields(PosedExamples):
            values = [getattr(p, f.name) for p in parts]
            out[f.name] = sum(values, ()) if isinstance(values[0], tuple) else torch.cat(values)
        return PosedExamples(**out)


def pose_examples(examples: ContactExamples, raw: torch.Tensor, scales: torch.Tensor,
                  body: BodyModel, chunk: int = 64) -> PosedExamples:
    """Pose the (corrupted) raw states `raw` of `examples` with `body` in the pelvis frame."""
    layout = body.state_layout
    verts, joints = [], []
    ids = body.contact_vertex_ids
    for s in range(0, len(raw), chunk):
        p = layout.unpack(raw[s:s + chunk])
        shape = p.shape.clamp(0.0, 1.0) if body.name == "anny" else p.shape
        with torch.no_grad():
            out = body(p.body_pose_rotmat, shape, p.root_rotmat,
                       torch.zeros(len(shape), 3, dtype=shape.dtype))
            shift = out.joints[:, :1]
            verts.append((out.vertices[:, ids] - shift).float())
            joints.append((out.joints - shift).float())
    p = layout.unpack(raw)
    return PosedExamples(
        vertices=torch.cat(verts), joints=torch.cat(joints),
        object_rotmat=(p.root_rotmat @ p.object_rotmat).float(),
        object_transl=(p.root_rotmat @ p.object_transl[..., None])[..., 0].float(),
        template_ids=examples.template_ids, labels=examples.labels,
        interactions=examples.interactions, scales=scales.float())


def _main(argv: Sequence[str] | None = None) -> None:
    """`python -m scorehoi_node.core.contact_training.data OUT --scenes N --seed S [--seq-len F]`"""
    import argparse

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    parser = argparse.ArgumentParser(description=write_contact_shards.__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--scenes", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--seq-len", type=int, default=1)
    args = parser.parse_args(argv)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn()) as bar:
        task = bar.add_task(f"scenes of seed {args.seed}", total=args.scenes)
        paths = write_contact_shards(args.out, args.scenes, args.seed, args.seq_len,
                                     on_scene=lambda: bar.advance(task))
    print(f"wrote {len(paths)} shard(s) and {INTERACTIONS_FILE} to {args.out}")


if __name__ == "__main__":
    _main()
