"""Detection backends: person detectors (chosen by name in `core/registry.py`
PERSON_DETECTORS; protocol in `core/stages/persons.py`), the YOLO-seg wrapper, the RGB-D
hand-object segmenter and the box tracker.

Heavy imports (mediapipe, ultralytics) stay inside the backend modules.
"""
