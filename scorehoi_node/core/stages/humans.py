"""Human stage: a 3D body for every tracked person (anny mesh fitted to the keypoints, or the
16-joint skeleton)."""

from __future__ import annotations

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.estimate.body_fit import get_fitter
from scorehoi_node.core.estimate.human import HumanFitError, estimate_human
from scorehoi_node.core.types import Frame, HumanEstimate, Person, PersonDetection, TrackedPerson


class HumanStage:
    """Fits `body` (None: the keypoint skeleton) to each person; persons that cannot be
    reconstructed (too few keypoints, degenerate geometry) are dropped and counted in
    `skipped`."""

    def __init__(self, config: PipelineConfig, body: BodyModel | None) -> None:
        self.body = body
        self.fitter = get_fitter(body) if body is not None else None
        self.depth_body_offset_m = config.depth_body_offset_m
        self.skipped = 0

    def __call__(self, frame: Frame, tracked: list[TrackedPerson]) -> list[Person]:
        people = []
        for tp in tracked:
            try:
                human = self.fit(tp.detection, frame)
            except HumanFitError:
                self.skipped += 1
                continue
            people.append(Person(track_id=tp.track_id, detection=tp.detection, human=human))
        return people

    def fit(self, person: PersonDetection, frame: Frame) -> HumanEstimate:
        """One person's body in the camera frame (raises `HumanFitError`)."""
        if self.fitter is None:
            return estimate_human(person, frame.camera, frame.depth, self.depth_body_offset_m)
        return self.fitter.fit(person, frame.camera, frame.depth).human

    def update(self, config: PipelineConfig) -> None:
        self.depth_body_offset_m = config.depth_body_offset_m
