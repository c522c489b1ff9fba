"""The ROS-free pipeline: detect -> track -> human -> object -> contacts -> refine. The CLI, the
evaluation and the node all call `Pipeline.step`.

This module only wires the stages of `core/stages/` (one module each; their dataclass
boundaries are in `core/types.py`):

    Frame ─ persons ─> Detections ─ tracking ─> TrackedPerson[] ─ humans ─> Person[]
          ─ objects (candidates ─ assignment ─> owner ─ template + pose) ─> FoundObject[]
          ─ refinement ─> refined pairs (the initial ones where nothing is refined)
          ─ contacts (one batch) ─> Interaction[] ─> FrameResult
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch

from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.config import PipelineConfig, flat_names
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.stages.contacts import ContactStage
from scorehoi_node.core.stages.humans import HumanStage
from scorehoi_node.core.stages.keyframes import KeyframeJob, KeyframeWorker
from scorehoi_node.core.stages.objects import ObjectStage
from scorehoi_node.core.stages.persons import PersonDetector, PersonStage
from scorehoi_node.core.stages.refinement import RefineStage
from scorehoi_node.core.stages.tracking import TrackingStage
from scorehoi_node.core.types import (Detections, FoundObject, Frame, FrameResult,
                                      HumanEstimate, Interaction, ObjectDetection, ObjectEstimate,
                                      Person)


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when torch sees a GPU, else cpu; "cuda" without one -> ValueError (one
    line, so `configure` fails with the reason instead of a crash at the first frame)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but torch {torch.__version__} sees no CUDA device; "
                         "use device: auto or cpu")
    return device


class Pipeline:
    """Per-frame HOI reconstruction. Holds the stages (models and per-stream state: tracks,
    object warm starts); no global state.

    Args:
        config: pipeline configuration.
        detector: a ready person detector (tests); built from `config` when None.
    """

    #: settings `update` applies between frames without rebuilding models
    RUNTIME_SETTINGS = ("min_person_score", "max_persons", "track_max_age", "track_min_iou",
                        "contact", "assign", "min_object_confidence", "depth_body_offset_m",
                        "refine", "refine_rounds", "refine_tau", "refine_stride",
                        "keyframe_interval")
    #: their flat parameter names (ROS parameters: `contact_threshold_m`, ...)
    RUNTIME_PARAMETERS = flat_names(PipelineConfig(), RUNTIME_SETTINGS)

    def __init__(self, config: PipelineConfig | None = None,
                 detector: PersonDetector | None = None) -> None:
        config = config or PipelineConfig()
        self.config = config
        if config.torch_threads:  # a process-wide setting: the pipeline is the process's one
            torch.set_num_threads(config.torch_threads)
        self.device = resolve_device(config.device)
        self.body = make_body_model("anny") if config.body_model == "anny" else None
        self.library = load_library() if config.object_source != "none" else None
        self.persons = PersonStage(config, detector)
        self.tracking = TrackingStage(config)
        self.humans = HumanStage(config, self.body)
        self.objects = self.contacts = self.refinement = None
        if self.library is not None:
            self.objects = ObjectStage(config, self.library, device=str(self.device))
        if self.library is not None and self.body is not None:
            self.contacts = ContactStage(self.body, self.library, config.contact, self.device)
            self.refinement = RefineStage(config, self.body, self.library, self.device,
                                          self.contacts.predictor)
        self.notes: list[str] = list(self.objects.notes) if self.objects is not None else []
        if self.contacts is not None:
            self.notes += self.contacts.notes
        if self.device.type == "cuda":
            self.notes.append(f"device {self.device}: ScoreHOI refinement (prior, body model, "
                              "guidance) and the ultralytics detector run there; the keypoint "
                              "body fit and the object ICP run on the CPU")
        #: background keyframe refinement (`start_keyframe_refinement`), or None
        self.keyframe_worker: KeyframeWorker | None = None
        self._keyframe_refiner = None

    # -- settings --------------------------------------------------------------------------------
    def update(self, **changes) -> None:
        """Apply new values of `RUNTIME_SETTINGS` (validated like PipelineConfig; ValueError
        or CheckpointError and nothing changed on a bad value or another setting)."""
        self.reconfigure(dataclasses.replace(self.config, **changes))  # validates

    def reconfigure(self, new: PipelineConfig) -> None:
        """Take `new`, which may differ from the current configuration in `RUNTIME_SETTINGS`
        only (ValueError otherwise; CheckpointError from a refinement mode that cannot load its
        prior or a contact predictor whose weights cannot be loaded; nothing changes on an
        error)."""
        other = [f.name for f in dataclasses.fields(new)
                 if getattr(new, f.name) != getattr(self.config, f.name)
                 and f.name not in self.RUNTIME_SETTINGS]
        if other:
            raise ValueError(f"{', '.join(sorted(other))} cannot change at run time; "
                             "reconfigure the node (deactivate, cleanup, configure)")
        predictor = (self.contacts.predictor_for(new.contact) if self.contacts is not None
                     else None)
        if self.refinement is not None:
            self.refinement.update(new, predictor)  # may raise: then nothing has changed
        for stage in (self.persons, self.tracking, self.humans, self.objects):
            if stage is not None:
                stage.update(new)
        if self.contacts is not None:
            self.contacts.update(new.contact, predictor)
        self.config = new

    def set_refine(self, mode: str) -> None:
        """Switch the refinement ("none", "fast", "paper", ...); the prior is loaded once."""
        self.update(refine=mode)

    def reset(self) -> None:
        """Forget the stream: person tracks and object warm starts."""
        self.tracking = TrackingStage(self.config)
        if self.objects is not None:
            self.objects.warm.keep(set())

    def counters(self) -> dict[str, int]:
        """Counts for the operator (/diagnostics): persons not reconstructed, failed
        refinements, object warm starts, objects assigned / near nobody / contested
        (`assign_*`), background keyframe refinement."""
        out = {"persons_not_fitted": self.humans.skipped}
        if self.refinement is not None:
            out["refine_failures"] = self.refinement.failures
        if self.objects is not None:
            out.update({f"objects_{k}": v for k, v in self.objects.stats.items()})
            out.update({f"assign_{k}": v for k, v in self.objects.assignment.stats.items()})
        if self.keyframe_worker is not None:
            out.update({f"keyframes_{k}": v for k, v in self.keyframe_worker.stats.items()})
        return out

    # -- the frame path --------------------------------------------------------------------------
    def step(self, frame: Frame, external: Detections | None = None) -> FrameResult:
        """Reconstruct every person (and their object) in one frame.

        `external`: detections of this image from another detector (object_source "external")."""
        clock = _StageClock(("detect", "human", "object", "contacts", "refine"))
        with clock("detect"):
            detections = self.persons(frame)
            tracked = self.tracking(detections)
        with clock("human"):
            people = self.humans(frame, tracked)
        found: list[FoundObject] = []
        detected: list[ObjectDetection] = []
        if self.objects is not None:
            with clock("object"):
                frame_objects = self.objects(frame, people, external)
                self.objects.keep_tracks({tp.track_id for tp in tracked})
            found = frame_objects.found
            detected = [ObjectDetection(c.class_name or "unknown", c.box, c.score, c.mask)
                        for c in frame_objects.candidates if c.person is None]
        by_person = {f.person: f for f in found}
        floor = None
        if self.refinement is not None and self.refinement.refiner is not None and found:
            with clock("refine"):
                floor = self.refinement.floor(frame, people, found)
        final = [self._refined(frame, person, by_person.get(i), floor, clock)
                 for i, person in enumerate(people)]
        with clock("contacts"):  # every person at once: one predictor call per template
            contacts = self._contacts([(human, obj) for human, obj, _ in final])
        interactions = [Interaction(track_id=person.track_id, human=human, obj=obj,
                                    contacts=c, penetration_depth=pen, refinement=mode)
                        for person, (human, obj, mode), (c, pen)
                        in zip(people, final, contacts)]
        keyframe = [f for f in found if f.keyframe and people[f.person].human.vertices is not None]
        if keyframe and self.keyframe_worker is not None:
            self.keyframe_worker.submit(KeyframeJob(frame, people, keyframe))
        return FrameResult(stamp_ns=frame.stamp_ns, frame_id=frame.frame_id,
                           interactions=interactions,
                           detections=Detections(detections.persons,
                                                 [*detections.objects, *detected],
                                                 detections.detector),
                           stage_ms=clock.ms)

    def _refined(self, frame: Frame, person: Person, found: FoundObject | None,
                 floor: np.ndarray | None, clock: "_StageClock"
                 ) -> tuple[HumanEstimate, ObjectEstimate | None, str]:
        """(human, object, refinement mode) of one person: refined when a refiner is set and
        the person has an object and a mesh, else (and when refinement fails) the initial
        estimate with mode "none"."""
        human, obj = person.human, (found.estimate if found is not None else None)
        refiner = self.refinement.refiner if self.refinement is not None else None
        if refiner is not None and found is not None and human.vertices is not None:
            with clock("refine"):
                refined = self.refinement(frame, person, found, floor)
            if refined is not None:
                return (*refined, self.config.refine)
        return human, obj, "none"

    def _contacts(self, pairs: list[tuple[HumanEstimate, ObjectEstimate | None]]
                  ) -> list[tuple[list, float]]:
        """(contacts, penetration depth) of every (human, object) pair, in one batch."""
        if self.contacts is None:
            return [([], 0.0)] * len(pairs)
        return self.contacts.batch(pairs)

    # -- keyframe refinement (background) --------------------------------------------------------
    def start_keyframe_refinement(self, mode: str, on_result: Callable[[FrameResult], None]
                                  ) -> None:
        """Refine keyframes again with `mode` (e.g. "paper") in a background thread; each
        result (a FrameResult of the keyframe's stamp, one interaction per refined person) goes
        to `on_result`. A keyframe is a frame on which a person's object came from the full
        template search. Latest keyframe wins (`counters()` keyframes_replaced)."""
        self.stop_keyframe_refinement()
        if self.refinement is None:
            raise ValueError("keyframe refinement needs the anny body model and the object library")
        self._keyframe_refiner = self.refinement.build_refiner(self.config, mode)
        self._keyframe_mode = mode
        self.keyframe_worker = KeyframeWorker(self._refine_keyframe, on_result)

    def stop_keyframe_refinement(self) -> None:
        if self.keyframe_worker is not None:
            self.keyframe_worker.stop()
            self.keyframe_worker = None

    def _refine_keyframe(self, job: KeyframeJob) -> FrameResult | None:
        t0 = time.perf_counter()
        refined: list[tuple[int, tuple[HumanEstimate, ObjectEstimate]]] = []
        floor = self.refinement.floor(job.frame, job.persons, job.objects)
        for found in job.objects:
            person = job.persons[found.person]
            try:
                pair = self.refinement(job.frame, person, found, floor, self._keyframe_refiner)
            except Exception:  # counted; the frame path is never affected
                pair = None
            if pair is None:
                self.keyframe_worker.count_failure()
                continue
            refined.append((person.track_id, pair))
        contacts = self._contacts([pair for _, pair in refined])
        interactions = [Interaction(track, human, obj, c, pen, self._keyframe_mode)
                        for (track, (human, obj)), (c, pen) in zip(refined, contacts)]
        if not interactions:
            return None
        return FrameResult(job.frame.stamp_ns, job.frame.frame_id, interactions,
                           Detections([], [], "keyframe"),
                           {"refine": (time.perf_counter() - t0) * 1e3})

    def close(self) -> None:
        self.stop_keyframe_refinement()
        self.persons.close()
        if self.objects is not None:
            self.objects.close()


class _StageClock:
    """Wall time per stage name [ms], summed over the persons of a frame (every name in
    `names` is reported, 0 when the stage did not run)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.ms: dict[str, float] = dict.fromkeys(names, 0.0)

    def __call__(self, name: str) -> "_StageClock":
        self._name = name
        return self

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.ms[self._name] = self.ms.get(self._name, 0.0) + (time.perf_counter() - self._t0) * 1e3
