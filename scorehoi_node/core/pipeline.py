"""The ROS-free pipeline: detect -> estimate -> refine. The CLI and the node both call it.

Per frame: persons (MediaPipe) -> track ids -> human (anny mesh fitted to the keypoints, or a
skeleton) -> object (with depth: the cluster touching the hands, its template and pose by
ICP) -> contacts (signed distances of the body's contact vertices to the placed template) ->
ScoreHOI refinement of every person-object pair (diffusion prior + guidance, `core/refine.py`)
-> contacts again from the refined reconstruction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.detect import Detector, make_detector
from scorehoi_node.core.detect.tracking import DetectionTracker, TrackerConfig
from scorehoi_node.core.estimate.human import HumanFitError, estimate_human
from scorehoi_node.core.types import (Detections, Frame, FrameResult, HumanEstimate,
                                      Interaction, ObjectDetection, ObjectEstimate,
                                      PersonDetection)


class Pipeline:
    """Per-frame HOI reconstruction. Holds the models; keeps no per-frame global state.

    Args:
        config: pipeline configuration.
        detector: a ready detector (tests, external detections); built from `config` when None.
    """

    def __init__(self, config: PipelineConfig | None = None, detector: Detector | None = None):
        self.config = config or PipelineConfig()
        self.device = resolve_device(self.config.device)
        self.detector = detector if detector is not None else make_detector(self.config)
        self.tracker = DetectionTracker(TrackerConfig(max_age=self.config.track_max_age,
                                                      min_iou=self.config.track_min_iou))
        self.skipped_persons = 0  # persons detected but not reconstructable (counted, not hidden)
        self.notes: list[str] = []  # one-line messages for the operator (fallbacks taken)
        self.object_detector = None
        if self.config.object_source == "ultralytics":
            from scorehoi_node.core.detect.ultralytics_seg import (DetectorUnavailable,
                                                                   UltralyticsSegDetector)

            try:
                self.object_detector = UltralyticsSegDetector(
                    self.config.ultralytics_weights, device=str(self.device))
            except DetectorUnavailable as e:
                self.notes.append(f"object_source=ultralytics unavailable ({e}); using rgbd")
        if self.device.type == "cuda":
            self.notes.append(f"device {self.device}: the ultralytics detector runs there; the "
                              "body fit, object fit and ScoreHOI refinement run on the CPU")
        self.body = None
        self.library = None
        if self.config.body_model == "anny":
            from scorehoi_node.core.bodies import make_body_model
            from scorehoi_node.core.estimate.body_fit import get_fitter

            self.body = make_body_model("anny")
            self._fitter = get_fitter(self.body)
        if self.config.object_source != "none":
            from scorehoi_node.core.estimate.contacts import ContactConfig
            from scorehoi_node.core.objects import load_library

            self.library = load_library()
            self._contact_config = ContactConfig(threshold_m=self.config.contact_threshold_m)
        self.refiner = None
        self.prior = None
        self.refine_failures = 0  # refinements that produced non-finite states (initial kept)
        # temporal warm start: track id -> last frame's measured object (camera frame)
        self._warm: dict[int, _WarmObject] = {}
        self.warm_stats = {"warm": 0, "keyframe": 0, "warm_rejected": 0}
        self._kf_thread = None  # background keyframe refinement (start_keyframe_refinement)
        if self.config.refine != "none" and self.body is not None and self.library is not None:
            self._build_refiner()

    #: settings `update` applies between frames without rebuilding models
    RUNTIME_SETTINGS = ("min_person_score", "max_persons", "track_max_age", "track_min_iou",
                        "contact_threshold_m", "min_object_confidence", "depth_body_offset_m",
                        "refine", "keyframe_interval")

    def update(self, **changes) -> None:
        """Apply new values of `RUNTIME_SETTINGS` (validated like PipelineConfig; ValueError
        and nothing changed on a bad value or another setting)."""
        import dataclasses

        other = set(changes) - set(self.RUNTIME_SETTINGS)
        if other:
            raise ValueError(f"{', '.join(sorted(other))} cannot change at run time; "
                             "reconfigure the node (deactivate, cleanup, configure)")
        new = dataclasses.replace(self.config, **changes)  # validates
        if new.refine != self.config.refine:
            self.set_refine(new.refine)
        self.config = new
        if hasattr(self.detector, "_min_score"):
            self.detector._min_score = new.min_person_score
        for tracker in (self.tracker.persons, self.tracker.objects):
            tracker.config = dataclasses.replace(tracker.config, max_age=new.track_max_age,
                                                 min_iou=new.track_min_iou)
        if self.library is not None:
            from scorehoi_node.core.estimate.contacts import ContactConfig

            self._contact_config = ContactConfig(threshold_m=new.contact_threshold_m)

    def set_refine(self, mode: str) -> None:
        """Switch the refinement ("none", "fast", "paper", ...) without rebuilding the rest
        (the prior is loaded once). Raises ValueError / CheckpointError and keeps the current
        mode on failure."""
        import dataclasses

        new = dataclasses.replace(self.config, refine=mode)  # validates the mode
        old = (self.config, self.refiner)
        self.config = new
        try:
            if mode == "none" or self.body is None or self.library is None:
                self.refiner = None
            else:
                self._build_refiner()
        except Exception:
            self.config, self.refiner = old
            raise

    def _build_refiner(self) -> None:
        """Load the diffusion prior (raises `CheckpointError` with a one-line reason)."""
        from scorehoi_node.core.refine import Refiner, preset

        cfg = preset(self.config.refine)
        if cfg.mode == "optimize":
            from scorehoi_node.core.diffusion.model import body_index
            from scorehoi_node.core.diffusion.state import StateCodec

            try:  # the baseline optimises in the prior's normalised space when one exists
                self.prior = self._load_prior()
                codec, index = self.prior.codec, self.prior.index
            except Exception:
                codec, index = StateCodec(self.body.state_layout), body_index(self.body)
            self.refiner = Refiner(None, self.body, codec, index, cfg)
            return
        self.prior = self._load_prior()
        self.refiner = Refiner(self.prior.sampler, self.body, self.prior.codec, self.prior.index,
                               cfg)

    def _load_prior(self):
        from scorehoi_node.core.diffusion.model import load_prior

        if self.prior is None:
            self.prior = load_prior(self.body, self.config.denoiser_checkpoint or None)
        return self.prior

    def step(self, frame: Frame, external: Detections | None = None) -> FrameResult:
        """Reconstruct every person (and their object) in one frame.

        `external`: detections of this image from another detector (object_source "external");
        their objects replace the detector's (persons always come from `self.detector`)."""
        stage_ms: dict[str, float] = {}
        t0 = time.perf_counter()
        detections = self.detector(frame.rgb)
        if self.object_detector is not None:
            objects = self.object_detector(frame.rgb).objects
            detections = Detections(detections.persons, objects, detections.detector)
        elif self.config.object_source == "external" and external is not None:
            detections = Detections(detections.persons, list(external.objects),
                                    detections.detector)
        t1 = time.perf_counter()
        stage_ms["detect"] = (t1 - t0) * 1e3
        track_ids = self.tracker(detections).persons
        order = sorted(range(len(detections.persons)),
                       key=lambda i: -_box_area(detections.persons[i].box))
        interactions = []
        keyframe_items = []
        clock = {"human": 0.0, "object": 0.0, "contacts": 0.0, "refine": 0.0}
        for i in order[: self.config.max_persons]:
            person = detections.persons[i]
            t = time.perf_counter()
            try:
                human = self._human(person, frame)
            except HumanFitError:
                self.skipped_persons += 1
                continue
            t_obj = time.perf_counter()
            clock["human"] += t_obj - t
            found = self._object(person, human, frame, detections, int(track_ids[i]))
            obj = found.estimate if found is not None else None
            t_con = time.perf_counter()
            clock["object"] += t_con - t_obj
            contacts, penetration = self._contacts(human, obj)
            t_ref = time.perf_counter()
            clock["contacts"] += t_ref - t_con
            refinement = "none"
            if found is not None and found.keyframe and human.vertices is not None:
                keyframe_items.append((int(track_ids[i]), person, human, found))
            if self.refiner is not None and obj is not None and human.vertices is not None:
                refined = self._refine(person, human, found, frame)
                if refined is not None:
                    human, obj = refined
                    refinement = self.config.refine
                t_con = time.perf_counter()
                clock["refine"] += t_con - t_ref
                if refined is not None:
                    contacts, penetration = self._contacts(human, obj)
                clock["contacts"] += time.perf_counter() - t_con
            self._remember(int(track_ids[i]), found)
            interactions.append(Interaction(
                track_id=int(track_ids[i]), human=human, obj=obj, contacts=contacts,
                penetration_depth=penetration, refinement=refinement))
        live = set(int(t) for t in track_ids)
        self._warm = {k: v for k, v in self._warm.items() if k in live}
        stage_ms.update({k: v * 1e3 for k, v in clock.items()})
        if keyframe_items:
            self._submit_keyframe((frame, keyframe_items))
        return FrameResult(stamp_ns=frame.stamp_ns, frame_id=frame.frame_id,
                           interactions=interactions, detections=detections, stage_ms=stage_ms)

    def _contacts(self, human: HumanEstimate, obj: ObjectEstimate | None):
        if obj is None or human.vertices is None:
            return [], 0.0
        from scorehoi_node.core.estimate.contacts import estimate_contacts

        est = estimate_contacts(human.vertices, self.body.contact_vertex_ids.numpy(),
                                self.body.contact_part_ids.numpy(), self.body.contact_part_names,
                                obj, self.library.by_id(obj.template_id), self._contact_config)
        return est.contacts, est.penetration_depth

    def _refine(self, person: PersonDetection, human: HumanEstimate, found: "FoundObject",
                frame: Frame, refiner=None):
        """ScoreHOI refinement of one person-object pair (with `refiner`, default the frame
        path's); None when it produced no finite state."""
        refiner = refiner or self.refiner
        import torch

        from scorehoi_node.core.refine import estimates_from_hoi, hoi_from_estimates

        obj = found.estimate
        template = self.library.by_id(obj.template_id)
        hoi = hoi_from_estimates(human, obj)
        obs = observation_of(frame, person, found, template)
        cond = None
        if self.prior is not None:
            from scorehoi_node.core.diffusion.condition import condition_features

            spec = self.prior.spec
            box = torch.full((1, 4), float("nan"))
            if found.mask is not None and found.mask.any():
                ys, xs = np.nonzero(found.mask)
                box = torch.tensor([[xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0]])
            kp, sc = _keypoints(person)
            cond = condition_features(
                spec, torch.as_tensor(frame.camera.K, dtype=torch.float32), kp[None], sc[None],
                box, torch.tensor([spec.template_index(template.id)]),
                self.prior.codec.encode(hoi))
        result = refiner.refine(hoi, cond, obs)
        out = result.hoi
        finite = all(bool(torch.isfinite(getattr(out, k)).all()) for k in
                     ("root_rotmat", "body_pose_rotmat", "shape", "object_rotmat",
                      "object_transl"))
        if not finite:
            self.refine_failures += 1
            return None
        with torch.no_grad():
            recon = refiner.reconstruct(out)
        return estimates_from_hoi(out, recon, human, obj)

    # -- keyframe refinement (background) -------------------------------------------------------
    def start_keyframe_refinement(self, mode: str, on_result) -> None:
        """Refine keyframes again with `mode` (e.g. "paper") in a background thread; each
        result (a FrameResult of the keyframe's stamp, one interaction per refined person) goes
        to `on_result`. A keyframe is a frame on which a person's object came from the full
        template search. Latest keyframe wins: one waiting job at most (replaced ones counted
        in `keyframe_stats`)."""
        import threading

        from scorehoi_node.core.refine import Refiner, preset

        self.stop_keyframe_refinement()
        if self.body is None or self.library is None:
            raise ValueError("keyframe refinement needs the anny body model and the object library")
        prior = self._load_prior()
        self._kf_refiner = Refiner(prior.sampler, self.body, prior.codec, prior.index,
                                   preset(mode))
        self._kf_mode, self._kf_on_result = mode, on_result
        self._kf_cond = threading.Condition()
        self._kf_job = None
        self._kf_running = True
        self.keyframe_stats = {"submitted": 0, "replaced": 0, "done": 0, "failed": 0}
        self._kf_thread = threading.Thread(target=self._keyframe_loop, daemon=True,
                                           name="scorehoi-keyframes")
        self._kf_thread.start()

    def stop_keyframe_refinement(self) -> None:
        thread = self._kf_thread
        if thread is None:
            return
        with self._kf_cond:
            self._kf_running = False
            self._kf_cond.notify_all()
        thread.join(timeout=60.0)
        self._kf_thread = None

    def _submit_keyframe(self, job) -> None:
        if self._kf_thread is None:
            return
        with self._kf_cond:
            self.keyframe_stats["submitted"] += 1
            if self._kf_job is not None:
                self.keyframe_stats["replaced"] += 1
            self._kf_job = job
            self._kf_cond.notify()

    def _keyframe_loop(self) -> None:
        while True:
            with self._kf_cond:
                while self._kf_running and self._kf_job is None:
                    self._kf_cond.wait(timeout=0.5)
                if not self._kf_running:
                    return
                (frame, items), self._kf_job = self._kf_job, None
            t0 = time.perf_counter()
            interactions = []
            for track, person, human, found in items:
                try:
                    refined = self._refine(person, human, found, frame, self._kf_refiner)
                except Exception:  # counted; the frame path is never affected
                    refined = None
                if refined is None:
                    self.keyframe_stats["failed"] += 1
                    continue
                h, o = refined
                contacts, penetration = self._contacts(h, o)
                interactions.append(Interaction(track, h, o, contacts, penetration,
                                                self._kf_mode))
            self.keyframe_stats["done"] += 1
            if interactions:
                self._kf_on_result(FrameResult(
                    frame.stamp_ns, frame.frame_id, interactions, Detections([], [], "keyframe"),
                    {"refine": (time.perf_counter() - t0) * 1e3}))

    def _human(self, person: PersonDetection, frame: Frame) -> HumanEstimate:
        if self.body is None:
            return estimate_human(person, frame.camera, frame.depth,
                                  self.config.depth_body_offset_m)
        return self._fitter.fit(person, frame.camera, frame.depth).human

    def _remember(self, track: int, found: "FoundObject | None") -> None:
        """Keep this frame's measured object pose (before refinement: the fit to this frame's
        depth) as the next frame's starting point."""
        if found is None:
            self._warm.pop(track, None)
            return
        prev = self._warm.get(track)
        age = 0 if found.keyframe else (prev.age + 1 if prev is not None else 0)
        o = found.estimate
        self._warm[track] = _WarmObject(o.template_id, o.rotation, o.translation, age)

    def _warm_start(self, track: int, human: HumanEstimate):
        """(template id, R, t, min score) from last frame, or None when a keyframe is due."""
        prev = self._warm.get(track)
        if prev is None or prev.age + 1 >= self.config.keyframe_interval:
            return None
        return (prev.template_id, prev.rotation, prev.translation,
                self.config.min_object_confidence)

    def _object(self, person: PersonDetection, human: HumanEstimate, frame: Frame,
                detections: Detections, track: int = 0) -> "FoundObject | None":
        """The object in this person's hands, or None: the detected object (ultralytics mask or
        external box) nearest the wrists, else the depth cluster touching the hands."""
        if self.library is None:
            return None
        from scorehoi_node.core.detect.rgbd_objects import segment_hand_objects
        from scorehoi_node.core.geometry import backproject_image
        from scorehoi_node.core.keypoints import person_wrists
        from scorehoi_node.core.estimate.objects import estimate_object

        wrists_uv, wrist_scores = person_wrists(person)
        if detections.objects and len(wrists_uv):
            det = min(detections.objects, key=lambda o: _distance_to_wrists(o, wrists_uv))
            mask, points = det.mask, None
            if mask is None:  # box-only detections (external): the box is the silhouette
                mask = _box_mask(det.box, frame.rgb.shape[:2])
            elif frame.depth is not None:
                points = backproject_image(frame.depth, frame.camera)[mask]
            hands = human.joint_positions[[i for i, n in enumerate(human.joint_names)
                                           if "wrist" in n]]
            est = estimate_object(frame.camera, self.library, class_name=det.class_name,
                                  points=points, mask=mask, hands=hands)
            return None if est is None else FoundObject(est, mask, points)
        if frame.depth is None:
            return None
        person_mask = person.mask
        if human.vertices is not None:
            # the segmenter's person mask often covers the held object: keep only the pixels
            # whose depth lies on the fitted body surface
            from scorehoi_node.core.geometry import body_surface_mask

            on_body = body_surface_mask(human.vertices, frame.camera, frame.depth)
            person_mask = on_body if person_mask is None else (person_mask & on_body)
        found = segment_hand_objects(frame.depth, frame.camera, person_mask, wrists_uv,
                                     wrist_scores)
        if not found:
            return None
        best = found[0]
        warm = self._warm_start(track, human)
        obj = None
        if warm is not None:
            obj = estimate_object(frame.camera, self.library, class_name=None,
                                  points=best.points, mask=best.detection.mask, warm=warm)
            self.warm_stats["warm" if obj is not None else "warm_rejected"] += 1
        keyframe = obj is None
        if keyframe:  # no usable warm start: search every template and yaw
            self.warm_stats["keyframe"] += 1
            obj = estimate_object(frame.camera, self.library, class_name=None,
                                  points=best.points, mask=best.detection.mask)
        if obj is None or obj.confidence < self.config.min_object_confidence:
            return None  # a depth cluster that no template explains is not an object
        return FoundObject(obj, best.detection.mask, best.points, keyframe)

    def close(self) -> None:
        self.stop_keyframe_refinement()
        self.detector.close()


def resolve_device(name: str):
    """"auto" -> cuda when torch sees a GPU, else cpu; "cuda" without one -> ValueError (one
    line, so `configure` fails with the reason instead of a crash at the first frame)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but torch {torch.__version__} sees no CUDA device; "
                         "use device: auto or cpu")
    return device


@dataclass(frozen=True)
class _WarmObject:
    """Last frame's measured object of one track (camera frame)."""

    template_id: str
    rotation: np.ndarray
    translation: np.ndarray
    age: int  # frames since the last full template search


@dataclass(frozen=True)
class FoundObject:
    """The object a person handles: its pose estimate and the evidence behind it.

    Attributes:
        estimate: 6-DoF pose and template.
        mask: (H, W) bool image mask of the object, or None.
        points: (N, 3) camera-frame depth points on the object [m], or None.
    """

    estimate: ObjectEstimate
    mask: np.ndarray | None
    points: np.ndarray | None
    keyframe: bool = True  # found by the full template search (not a warm start)


def _keypoints(person: PersonDetection):
    import torch

    kp = torch.as_tensor(np.asarray(person.keypoints_2d, np.float32))
    sc = torch.as_tensor(np.asarray(person.keypoint_scores, np.float32))
    if kp.shape != (33, 2):  # another layout: no keypoint evidence for the MediaPipe-33 terms
        return torch.full((33, 2), float("nan")), torch.zeros(33)
    return kp, sc


def observation_of(frame: Frame, person: PersonDetection, found: FoundObject, template,
                   max_points: int = 400):
    """What the guidance terms see of one person-object pair in `frame` (see `Observation`)."""
    import torch

    from scorehoi_node.core.diffusion.guidance.base import Observation
    from scorehoi_node.core.diffusion.guidance.mask import mask_distance

    f = dict(dtype=torch.float32)
    kp, sc = _keypoints(person)
    finite = torch.isfinite(kp).all(1)
    kp, sc = torch.where(finite[:, None], kp, 0.0), torch.where(finite, sc, 0.0)
    box = np.asarray(person.box, np.float64)
    scale = float(np.hypot(box[2] - box[0], box[3] - box[1])) or 300.0
    mask_dt = None
    if found.mask is not None and found.mask.any():
        mask_dt = torch.as_tensor(mask_distance(found.mask), **f)
    rng = np.random.default_rng(0)
    obj_pts = human_pts = floor = None
    if found.points is not None and len(found.points):
        p = np.asarray(found.points)
        p = p[np.isfinite(p).all(1)]
        if len(p) > max_points:
            p = p[rng.choice(len(p), max_points, replace=False)]
        obj_pts = torch.as_tensor(p, **f) if len(p) else None
    if frame.depth is not None:
        from scorehoi_node.core.geometry import backproject_image
        from scorehoi_node.core.estimate.floor import estimate_floor

        exclude = np.zeros(frame.depth.shape, bool)
        if person.mask is not None:
            exclude |= person.mask
        if found.mask is not None:
            exclude |= found.mask
        plane = estimate_floor(frame.depth, frame.camera, exclude=exclude)
        floor = None if plane is None else torch.as_tensor(plane, **f)
        if person.mask is not None:
            sel = person.mask & ~(found.mask if found.mask is not None else False)
            pts = backproject_image(frame.depth, frame.camera)[sel]
            pts = pts[np.isfinite(pts).all(1) & (pts[:, 2] > 0)]
            if len(pts) > max_points:
                pts = pts[rng.choice(len(pts), max_points, replace=False)]
            human_pts = torch.as_tensor(pts, **f) if len(pts) else None
    return Observation(camera_K=torch.as_tensor(frame.camera.K, **f), template=template,
                       floor_plane=floor, keypoints_2d=kp, keypoint_scores=sc,
                       object_mask_distance=mask_dt, object_points=obj_pts,
                       human_points=human_pts, scale_px=scale)


def _distance_to_wrists(obj: ObjectDetection, wrists_uv: np.ndarray) -> float:
    """Pixel distance from an object's mask centroid (or box centre) to the nearest wrist."""
    if obj.mask is not None and obj.mask.any():
        ys, xs = np.nonzero(obj.mask)
        centre = np.array([xs.mean(), ys.mean()])
    else:
        centre = 0.5 * (obj.box[:2] + obj.box[2:])
    return float(np.linalg.norm(wrists_uv - centre, axis=1).min())


def _box_mask(box: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of a [u0, v0, u1, v1] pixel box."""
    u0, v0, u1, v1 = np.round(box).astype(int)
    mask = np.zeros(shape, bool)
    mask[max(v0, 0):max(v1, 0), max(u0, 0):max(u1, 0)] = True
    return mask


def _box_area(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))
