"""Frozen configuration dataclasses: the only source of defaults.

ROS parameters, launch arguments, `config/scorehoi.yaml` and CLI options are all derived from
these classes. Bad values raise `ValueError` naming the field and the valid choices.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scorehoi_node.core.registry import OBJECT_SOURCES, PERSON_DETECTORS

BODY_MODELS = ("anny", "skeleton")
#: "unguided" and "optimize" are ablations (prior alone / optimisation alone), see core/refine.py
REFINE_MODES = ("none", "fast", "paper", "unguided", "optimize")
DEVICES = ("auto", "cpu", "cuda")
#: person proposal methods of the "topdown" detector (`core/detect/topdown.py`), in the order
#: their proposals are verified
PROPOSAL_METHODS = ("tracks", "yolo", "depth", "segmentation", "face", "tiles")
#: where contact sets come from: the learned predictor (`core/estimate/contact_net.py`) or the
#: distance rules (`core/estimate/contacts.py` initial, `core/refine.py` per round)
CONTACT_PREDICTORS = ("learned", "distance")
QOS_RELIABILITY = ("reliable", "best_effort")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")


#: numeric parameter ranges (inclusive): what `__post_init__` checks, and what the node declares
#: in its parameter descriptors (rqt_reconfigure sliders, `ros2 param describe`)
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "min_person_score": (0.0, 1.0), "max_persons": (1, 64), "torch_threads": (0, 256),
    "depth_body_offset_m": (0.0, 0.5), "person_max_crops": (1, 64),
    "track_max_age": (0, 1000), "track_min_iou": (0.0, 1.0),
    "contact_threshold_m": (0.001, 0.2), "contact_scale_m": (0.0001, 0.1),
    "contact_guidance_hinge_m": (0.0, 0.2), "contact_part_radius_m": (0.001, 1.0),
    "contact_band_m": (0.0, 0.5),
    "assign_touch_m": (0.01, 2.0), "assign_image_gate": (0.0, 2.0),
    "refine_rounds": (0, 100), "refine_tau": (0, 999), "refine_stride": (0, 500),
    "min_object_confidence": (0.0, 1.0), "depth_sync_tolerance_s": (0.0, 1.0),
    "sync_window_s": (0.0, 5.0),
    "keyframe_interval": (1, 1000), "marker_mesh_faces": (0, 1_000_000),
    "warn_throttle_s": (0.0, 3600.0), "diagnostics_period_s": (0.05, 60.0),
}


def proposal_methods(name: str, value: str) -> tuple[str, ...]:
    """"tracks,depth" -> ("tracks", "depth"); ValueError naming `name` and the choices for an
    empty list or an unknown method."""
    methods = tuple(m.strip() for m in value.split(",") if m.strip())
    unknown = [m for m in methods if m not in PROPOSAL_METHODS]
    if unknown or not methods:
        raise ValueError(f"{name}={value!r}: give one or more of {', '.join(PROPOSAL_METHODS)}"
                         f", comma-separated")
    return methods


def _in_range(name: str, value: float) -> None:
    lo, hi = PARAM_RANGES[name]
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} must be within [{lo}, {hi}]")


@dataclass(frozen=True)
class ContactConfig:
    """Every contact distance of the pipeline, by role [m] (flat parameter names: `contact_` +
    field name, e.g. `contact_threshold_m`).

    The evaluation radius is not a setting: the CONTHO protocol counts a human vertex in contact
    within 5 cm of the object (`core/metrics.py` CONTACT_THRESHOLD_M).

    Attributes:
        predictor: where contact sets come from, for the published contacts and every refinement
            round: "learned" (default; the contact network, `core/estimate/contact_net.py`,
            re-run on each round's pose) or "distance" (the distance rules below). When the
            learned weights cannot be loaded the pipeline says so in one line and uses
            "distance".
        checkpoint: the learned predictor's safetensors file; empty = the one shipped in the
            package (scorehoi_node/core/estimate/weights/contact_net.safetensors).
        threshold_m: distance rule, published contacts: a contact-subset vertex's contact
            probability is 0.5 at this signed distance to the object [m] (`stages/contacts.py`).
        scale_m: width of that probability's sigmoid [m]: p = sigmoid((threshold_m - d) / scale_m).
        guidance_hinge_m: refinement: the contact guidance pulls each predicted contact vertex to
            within this distance of the object surface [m] (`diffusion/guidance/contact.py`).
        part_radius_m: distance rule, refinement rounds: a body part is predicted in contact when
            its closest contact-subset vertex lies within this distance of the object [m]
            (`core/refine.py`).
        band_m: distance rule, refinement rounds: that part's vertices within this distance of
            its closest one are the contact vertices the guidance pulls [m].
    """

    predictor: str = "learned"
    checkpoint: str = ""

    threshold_m: float = 0.03
    scale_m: float = 0.005
    guidance_hinge_m: float = 0.02
    part_radius_m: float = 0.10
    band_m: float = 0.03

    def __post_init__(self) -> None:
        _choice("contact_predictor", self.predictor, CONTACT_PREDICTORS)
        for f in dataclasses.fields(self):
            if f.name not in ("predictor", "checkpoint"):
                _in_range(f"contact_{f.name}", getattr(self, f.name))


@dataclass(frozen=True)
class AssignmentConfig:
    """Which person an object goes to (`stages/assignment.py`; flat parameter names: `assign_` +
    field name, e.g. `assign_touch_m`). Each object goes to at most one person and each person
    gets at most one object; an object near nobody goes to nobody (counted).

    Attributes:
        touch_m: with depth points on the object: a person touches it when some point of their
            fitted body (mesh vertices, else joints) lies within this distance of the object's
            points [m]; among those who touch it, the nearest in 3D gets it.
        image_gate: without depth points: a person may get it when one of their visible
            keypoints (wrists first) lies within this fraction of the person's box height of the
            object's box in the image; the nearest in those units gets it.
    """

    touch_m: float = 0.25
    image_gate: float = 0.15

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _in_range(f"assign_{f.name}", getattr(self, f.name))


@dataclass(frozen=True)
class PipelineConfig:
    """Configuration of the ROS-free detect -> estimate pipeline.

    Attributes:
        detector: person detector (`core/registry.py` PERSON_DETECTORS): "mediapipe" (default:
            MediaPipe Pose on the whole image: at most one person, and only when large in the
            image) or "topdown" (several people per frame: person proposals, then MediaPipe
            Pose on a crop of each; offline). topdown is not yet the default: on one large
            person it fits worse (README, People in crowds).
        min_person_score: persons below this detection confidence are dropped.
        max_persons: at most this many persons per frame (largest boxes first).
        mediapipe_model_complexity: 0 (fastest), 1 or 2 (most accurate); only 0 and 1 ship offline.
        person_proposals: detector "topdown", frames with a depth image: where to look for
            people, comma-separated, among "tracks" (last frame's people), "depth" (person-sized
            depth clusters on the floor), "yolo" (ultralytics persons, `ultralytics_weights`;
            off with one note where the weights cannot be loaded), "segmentation" (MediaPipe
            selfie-segmentation blobs), "face" (MediaPipe full-range faces), "tiles" (the whole
            image and a grid of overlapping squares).
        person_proposals_rgb: the same for frames without depth (no "depth").
        person_max_crops: detector "topdown": at most this many pose crops per frame.
        ultralytics_weights: YOLO-seg weights file, or a name that downloads on first use where
            online (object_source "ultralytics").
        device: "auto" (cuda when available), "cpu" or "cuda".
        torch_threads: torch's intra-op CPU threads for this process, set once when the
            pipeline is built; 0 = torch's default (one per core). Default 1: the stages run
            many small tensor operations, where more threads mostly add synchronisation (bench
            `torch_threads_fast`, 2 cores, interleaved on the same frames: 1 thread 413 ms,
            2 threads 480 ms per frame on a quiet machine; 1.9 vs 3.3 s under load).
        refine: ScoreHOI refinement of the initial estimate: "fast" (real-time schedule,
            default), "paper" (the published N = 10, tau = 50 schedule), "none", or the ablations
            "unguided" (prior without guidance) and "optimize" (guidance losses without prior).
        refine_rounds: contact-driven rounds (invert, guided sample, re-predict contacts);
            0 = the preset's (fast 2, paper 10).
        refine_tau: DDIM inversion depth in timesteps of 1000; 0 = the preset's (fast 100,
            paper 50).
        refine_stride: DDIM step in timesteps; tau / stride steps per direction and round;
            0 = the preset's (fast 50, paper 5).
        denoiser_checkpoint: safetensors checkpoint of the diffusion prior; empty = the one
            shipped in the package (scorehoi_node/core/diffusion/weights/denoiser.safetensors).
        depth_body_offset_m: depth of the torso surface in front of the skeleton [m], used
            when placing the body from a depth image.
        track_max_age: frames a person track survives unseen before its id is retired.
        track_min_iou: box IoU (or close centres) needed to continue a track.
        body_model: "anny" (body-model mesh fitted to the keypoints, default) or "skeleton"
            (16-joint skeleton only, no mesh; fastest).
        object_source: which detector's objects join the depth candidates (`core/registry.py`
            OBJECT_SOURCES): "rgbd" (none: the depth clusters at every person's hands, seat,
            feet and the floor beside them), "ultralytics" (YOLO-seg masks; falls back to
            "rgbd" with one log line when its weights cannot be loaded), "external" (2D object
            boxes / masks from another detector node, matched by stamp; see the node's
            `detections` topic) or "none" (no object stage).
        object_recogniser: safetensors weights of the object recogniser; empty = the ones
            shipped in the package (scorehoi_node/core/estimate/weights/). Missing or corrupt
            weights: one log line, and the rule path (every template x yaw by ICP) runs.
        contact: contact predictor and distances by role (`ContactConfig`; parameters
            `contact_*`).
        assign: which person each object goes to (`AssignmentConfig`; parameters `assign_*`).
        min_object_confidence: a depth cluster the recogniser gives a lower probability of
            being an object (1 - P(clutter)) is no object.
        keyframe_interval: a tracked person's object is a keyframe (refined again in the
            background with `keyframe_refine`) on its first frame and then every this many
            frames of the track. 1 = every frame.
    """

    detector: str = "mediapipe"
    min_person_score: float = 0.5
    max_persons: int = 4
    mediapipe_model_complexity: int = 1
    person_proposals: str = "depth"
    person_proposals_rgb: str = "tracks,tiles"
    person_max_crops: int = 16
    ultralytics_weights: str = "yolo11n-seg.pt"
    device: str = "auto"
    torch_threads: int = 1
    refine: str = "fast"
    refine_rounds: int = 0
    refine_tau: int = 0
    refine_stride: int = 0
    denoiser_checkpoint: str = ""
    depth_body_offset_m: float = 0.10
    track_max_age: int = 5
    track_min_iou: float = 0.2
    body_model: str = "anny"
    object_source: str = "rgbd"
    object_recogniser: str = ""
    contact: ContactConfig = field(default_factory=ContactConfig)
    assign: AssignmentConfig = field(default_factory=AssignmentConfig)
    min_object_confidence: float = 0.5
    keyframe_interval: int = 8

    def __post_init__(self) -> None:
        PERSON_DETECTORS.check(self.detector, "detector")
        _choice("device", self.device, DEVICES)
        _choice("refine", self.refine, REFINE_MODES)
        _in_range("torch_threads", self.torch_threads)
        _in_range("min_person_score", self.min_person_score)
        _in_range("max_persons", self.max_persons)
        _choice("mediapipe_model_complexity", str(self.mediapipe_model_complexity), ("0", "1"))
        proposal_methods("person_proposals", self.person_proposals)
        if "depth" in proposal_methods("person_proposals_rgb", self.person_proposals_rgb):
            raise ValueError(f"person_proposals_rgb={self.person_proposals_rgb!r}: frames "
                             "without depth have no 'depth' proposals")
        _in_range("person_max_crops", self.person_max_crops)
        _in_range("depth_body_offset_m", self.depth_body_offset_m)
        _in_range("track_max_age", self.track_max_age)
        _in_range("track_min_iou", self.track_min_iou)
        _choice("body_model", self.body_model, BODY_MODELS)
        OBJECT_SOURCES.check(self.object_source, "object_source")
        for name in ("refine_rounds", "refine_tau", "refine_stride"):
            _in_range(name, getattr(self, name))
        _in_range("min_object_confidence", self.min_object_confidence)
        _in_range("keyframe_interval", self.keyframe_interval)


@dataclass(frozen=True)
class NodeConfig:
    """Configuration of the ROS node (adds transport and publishing options to the pipeline).

    Attributes:
        pipeline: the core pipeline's configuration (its fields are flat ROS parameters).
        image_qos: reliability of the image/depth subscriptions: "reliable" or "best_effort".
        use_depth: subscribe to the depth image and use it when its stamp matches the image.
        depth_sync_tolerance_s: max stamp difference between an image and its depth image [s].
        sync_window_s: how long an image waits for the camera_info and depth image of its stamp
            (and external detections) once the worker is free, before it is processed with the
            latest camera_info and without depth, both counted [s].
        publish_markers: publish visualization_msgs/MarkerArray on markers.
        marker_mesh_faces: triangles of each mesh marker (human, object); 0 = the full meshes.
            The human mesh is decimated once per body model (its rest mesh), object meshes
            with more triangles once per template; each frame only gathers vertices.
        publish_tf: publish camera -> pelvis / object frames on /tf.
        tf_prefix: prefix of the published TF frame ids.
        warn_throttle_s: minimum period between two identical warnings [s].
        keyframe_refine: "none" or a refinement mode ("paper", "fast") run again on keyframes
            (frames where an object came from the full template search) in a background
            thread; results go to scorehoi/interactions_keyframe with the keyframe's stamp.
        diagnostics_period_s: period of the input/output counters on /diagnostics [s].
        autostart: configure and activate the lifecycle node on start (no lifecycle manager needed).
    """

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    image_qos: str = "reliable"
    use_depth: bool = True
    depth_sync_tolerance_s: float = 0.02
    sync_window_s: float = 0.2
    publish_markers: bool = True
    marker_mesh_faces: int = 2000
    publish_tf: bool = True
    tf_prefix: str = "scorehoi"
    warn_throttle_s: float = 5.0
    keyframe_refine: str = "none"
    diagnostics_period_s: float = 1.0
    autostart: bool = True

    def __post_init__(self) -> None:
        _choice("image_qos", self.image_qos, QOS_RELIABILITY)
        _in_range("depth_sync_tolerance_s", self.depth_sync_tolerance_s)
        _in_range("sync_window_s", self.sync_window_s)
        _in_range("warn_throttle_s", self.warn_throttle_s)
        _in_range("diagnostics_period_s", self.diagnostics_period_s)
        _in_range("marker_mesh_faces", self.marker_mesh_faces)
        _choice("keyframe_refine", self.keyframe_refine, REFINE_MODES)
        if not self.tf_prefix or "/" in self.tf_prefix.strip("/"):
            raise ValueError(f"tf_prefix={self.tf_prefix!r} must be one non-empty frame-name segment")

    # -- flat views (ROS parameters, YAML) ---------------------------------------------------
    def to_flat_dict(self) -> dict[str, Any]:
        """All settings as one flat {name: value} dict: pipeline fields inlined, nested
        dataclasses prefixed by their field name (`contact` -> `contact_threshold_m`, ...)."""
        out = _flatten(self.pipeline)
        out.update(_flatten(self, skip=("pipeline",)))
        return out

    @classmethod
    def from_flat_dict(cls, values: dict[str, Any]) -> "NodeConfig":
        """Build from flat {name: value}; unknown names raise ValueError (no silent typos)."""
        defaults = cls().to_flat_dict()
        unknown = set(values) - set(defaults)
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        typed = {}
        for k, v in values.items():
            want = type(defaults[k])
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
                raise ValueError(f"{k}={v!r} must be of type {want.__name__}")
            typed[k] = v
        return _unflatten(cls, {**defaults, **typed})


def _flatten(obj: Any, prefix: str = "", skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """{prefix + name: value} of a config dataclass; nested config dataclasses recurse with
    `name_` added to the prefix."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_flatten(value, f"{prefix}{f.name}_"))
        else:
            out[prefix + f.name] = value
    return out


def flat_names(config: Any, fields: tuple[str, ...]) -> frozenset[str]:
    """Flat parameter names of the top-level `fields` of a config dataclass instance (a nested
    dataclass field gives all its prefixed names, e.g. contact -> contact_threshold_m, ...)."""
    flat = _flatten(config)
    return frozenset(k for k in flat for f in fields
                     if k == f or (dataclasses.is_dataclass(getattr(config, f))
                                   and k.startswith(f + "_")))


def _unflatten(cls: type, flat: dict[str, Any], prefix: str = "") -> Any:
    """Inverse of `_flatten` for class `cls` (its nested fields' classes from their defaults)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name == "pipeline" and cls is NodeConfig:
            kwargs[f.name] = _unflatten(PipelineConfig, flat)
        elif f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(
                default := f.default_factory()):
            kwargs[f.name] = _unflatten(type(default), flat, f"{prefix}{f.name}_")
        else:
            kwargs[f.name] = flat[prefix + f.name]
    return cls(**kwargs)


def params_from_file(path) -> dict[str, Any]:
    """The `ros__parameters` of a ROS 2 node parameters file (any node key, e.g. `/**`);
    ValueError (one line) when it has none."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    for node in doc.values() if isinstance(doc, dict) else ():
        if isinstance(node, dict) and "ros__parameters" in node:
            return dict(node["ros__parameters"])
    raise ValueError(f"{path} has no ros__parameters section")
