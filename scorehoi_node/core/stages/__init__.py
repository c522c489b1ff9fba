"""The pipeline's stages, one module each, in the order a frame passes through them:

    persons.py       detect    person detector (registry) -> Detections
    tracking.py      track     track ids, largest persons first -> TrackedPerson[]
    humans.py        human     body model fitted to each person -> Person[]
    objects.py       object    candidates from an object source (object_sources.py, registry)
                               -> template + 6-DoF pose, warm start, owner -> FoundObject[]
    contacts.py      contacts  contacts + penetration of each person-object pair
    refinement.py    refine    ScoreHOI refinement of each pair (observation.py builds what the
                               guidance and the prior's condition see); keyframes.py refines
                               keyframes again in a background worker
    (core/pipeline.py wires them into FrameResult; the ROS node publishes it)

Stages hold models and per-stream state (tracks, warm starts) and take/return the dataclasses of
`core/types.py`; none calls another stage.
"""
