"""Ultralytics YOLO backend: instance segmentation (persons + COCO objects) or pose (persons).

A `*-seg` model gives every person and COCO object a box, a confidence and a full-resolution
instance mask; persons then carry no keypoints (layout "none"). A `*-pose` model gives persons a
box and the 17 COCO keypoints (layout "coco17") but no masks, and no objects.

Loading (see `resolve_weights`): an existing file path is loaded as is; a bare weights name
(e.g. "yolo11n-seg.pt") is looked up in the working directory and in ultralytics' `weights_dir`
and otherwise downloaded once into `weights_dir` (normal on a robot with network). Offline
(`YOLO_OFFLINE=1`, or no DNS: ultralytics' own `is_online()` check, a few ms) the download is not
attempted and `DetectorUnavailable` is raised at once; online, one attempt is made without
ultralytics' 5/10/20 s retry back-off. A model yaml name ("yolo11n-seg.yaml") builds an untrained
model (tests, benchmarks).

`ultralytics` (a heavy import, ~1 s) is imported inside the functions that need it, on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scorehoi_node.core.keypoints import COCO17
from scorehoi_node.core.objects.classes import COCO80, PERSON_CLASS
from scorehoi_node.core.types import Detections, ObjectDetection, PersonDetection



class DetectorUnavailable(RuntimeError):
    """A detection backend cannot run here (weights missing, package absent). One-line message."""


def resolve_weights(weights: str, download_dir: str | Path | None = None) -> str:
    """Local path of `weights`, downloading a bare ultralytics asset name when online.

    Args:
        weights: a file path, a bare ultralytics asset name ("yolo11n-seg.pt") or a model yaml
            ("yolo11n-seg.yaml", returned unchanged: ultralytics builds it from its own configs).
        download_dir: where a downloaded asset goes; None: ultralytics' `SETTINGS["weights_dir"]`.

    Raises:
        DetectorUnavailable: the file does not exist and cannot be downloaded (one line).
    """
    from ultralytics.utils import SETTINGS, is_online
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES, attempt_download_asset

    path = Path(weights).expanduser()
    if path.suffix in (".yaml", ".yml"):
        return str(weights)
    if path.is_file():
        return str(path)
    hint = "pass a local weights path or use detector=mediapipe"
    if path.name != str(weights):  # a path (with folders) that does not exist: never download
        raise DetectorUnavailable(f"ultralytics weights file '{weights}' does not exist; {hint}")
    target_dir = Path(download_dir if download_dir is not None else SETTINGS["weights_dir"])
    if (target_dir / path.name).is_file():
        return str(target_dir / path.name)
    if path.name not in GITHUB_ASSETS_NAMES:
        raise DetectorUnavailable(
            f"ultralytics weights '{weights}' not found locally and not an ultralytics release "
            f"asset name; {hint}")
    if not is_online():  # YOLO_OFFLINE=1 or no DNS: fail in milliseconds, touch no network
        raise DetectorUnavailable(
            f"ultralytics weights '{weights}' not found locally and could not be downloaded: "
            f"offline (YOLO_OFFLINE set or no DNS); {hint}")
    target_dir.mkdir(parents=True, exist_ok=True)
    try:
        # retry=0: one attempt (requests timeout 30 s connect), no 5/10/20 s back-off loop
        local = attempt_download_asset(target_dir / path.name, retry=0, progress=False)
    except Exception as e:  # ConnectionError, HTTP errors, disk full
        reason = " ".join(str(e).split()).lstrip("❌ ").strip()
        raise DetectorUnavailable(
            f"ultralytics weights '{weights}' not found locally and could not be downloaded: "
            f"{reason}; {hint}") from e
    if not Path(local).is_file():
        raise DetectorUnavailable(
            f"ultralytics weights '{weights}' not found locally and could not be downloaded: "
            f"no file after the download; {hint}")
    return str(local)


def _numpy(x: Any) -> np.ndarray:
    """torch tensor or array -> numpy array (on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def class_filter_ids(classes: Iterable[str | int] | None,
                     names: dict[int, str]) -> list[int] | None:
    """Class names or ids -> sorted model class ids (None keeps all classes).

    Raises:
        ValueError: a name or id the model does not know (the message lists a few valid names).
    """
    if classes is None:
        return None
    by_name = {n: i for i, n in names.items()}
    ids = set()
    for c in classes:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and int(c) in names:
            ids.add(int(c))
        elif isinstance(c, str) and c in by_name:
            ids.add(by_name[c])
        else:
            some = ", ".join(list(by_name)[:8])
            raise ValueError(f"class {c!r} is not a class of this model (e.g. {some}, ...)")
    return sorted(ids)


def model_class_names(names: dict[int, str], task: str = "segment") -> dict[int, str]:
    """Class names of a model, filling in the names of a model built without a dataset.

    A model built from a yaml (untrained: tests, benchmarks) names its classes "0", "1", ...:
    an 80-class one is COCO-80, a 1-class pose model is COCO "person" (ultralytics pose models).
    """
    names = {int(k): str(v) for k, v in dict(names).items()}
    if not all(v == str(k) for k, v in names.items()):
        return names
    if len(names) == len(COCO80):
        return dict(enumerate(COCO80))
    if task == "pose" and len(names) == 1:
        return {0: PERSON_CLASS}
    return names


def results_to_detections(result: Any, *, min_score: float = 0.25,
                          class_ids: Iterable[int] | None = None,
                          names: dict[int, str] | None = None,
                          detector: str = "ultralytics") -> Detections:
    """One `ultralytics.engine.results.Results` -> core `Detections` (full-resolution pixels).

    Args:
        result: the Results of one image. `boxes.xyxy` are in original-image pixels; `masks.data`
            (N, h, w) may be at the network's letterboxed resolution (rescaled here with
            ultralytics' own letterbox inverse) or already at the original size (retina masks).
        min_score: detections below this confidence are dropped.
        class_ids: keep only these model class ids (None: all).
        names: class id -> name; None: `result.names`.
        detector: name recorded in `Detections.detector`.

    Returns:
        Persons (class "person") with box, score, mask (H, W) bool or None, and COCO-17 keypoints
        when the result has keypoints (layout "coco17"), else empty (0, 2) keypoints (layout
        "none"); every other class as an `ObjectDetection` named by `result.names`. Both lists
        are in the model's order (descending confidence).
    """
    h, w = (int(s) for s in result.orig_shape[:2])
    names = dict(result.names) if names is None else names
    if result.boxes is None or len(result.boxes) == 0:
        return Detections(persons=[], objects=[], detector=detector)
    xyxy = _numpy(result.boxes.xyxy).astype(np.float64).reshape(-1, 4)
    conf = _numpy(result.boxes.conf).astype(np.float64).reshape(-1)
    cls = _numpy(result.boxes.cls).astype(np.int64).reshape(-1)
    keep = conf >= min_score
    if class_ids is not None:
        keep &= np.isin(cls, np.fromiter(class_ids, dtype=np.int64))
    idx = np.flatnonzero(keep)
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)

    masks = None
    if result.masks is not None and len(idx):
        masks = _full_res_masks(result.masks.data[idx], (h, w))  # (n, H, W) bool, idx order
    kp_xy = kp_conf = None
    if result.keypoints is not None and len(idx):
        kp_xy = _numpy(result.keypoints.xy).astype(np.float64)[idx]
        c = result.keypoints.conf
        kp_conf = (_numpy(c).astype(np.float64)[idx] if c is not None
                   else np.ones(kp_xy.shape[:2], dtype=np.float64))

    persons: list[PersonDetection] = []
    objects: list[ObjectDetection] = []
    for j, i in enumerate(idx):
        name = names.get(int(cls[i]), str(int(cls[i])))
        mask = masks[j] if masks is not None else None
        if name == PERSON_CLASS:
            if kp_xy is not None:
                kps, kps_scores, layout = kp_xy[j], kp_conf[j], "coco17"
            else:
                kps, kps_scores, layout = np.zeros((0, 2)), np.zeros(0), "none"
            persons.append(PersonDetection(
                keypoints_2d=kps, keypoint_scores=kps_scores, keypoints_3d=None,
                keypoint_layout=layout, box=xyxy[i].copy(), score=float(conf[i]), mask=mask))
        else:
            objects.append(ObjectDetection(class_name=name, box=xyxy[i].copy(),
                                           score=float(conf[i]), mask=mask))
    return Detections(persons=persons, objects=objects, detector=detector)


def _full_res_masks(data: Any, shape: tuple[int, int]) -> np.ndarray:
    """(N, h, w) mask probabilities/binaries at network or image resolution -> (N, H, W) bool."""
    if tuple(data.shape[-2:]) == tuple(shape):
        return _numpy(data) > 0.5
    from ultralytics.utils.ops import scale_masks

    t = data if isinstance(data, torch.Tensor) else torch.as_tensor(np.asarray(data))
    return _numpy(scale_masks(t[None].float(), shape)[0]) > 0.5


class UltralyticsSegDetector:
    """Ultralytics YOLO (seg or pose) as a `Detector`.

    Args:
        weights: weights file, ultralytics asset name (downloaded once where online) or model yaml.
        device: torch device string ("cpu", "cuda", "cuda:0"); "auto" picks cuda when available.
        min_score: detections below this confidence are dropped.
        classes: keep only these classes (COCO names or model ids); None keeps all.
        imgsz: network input size [px] (long side).
        max_det: at most this many detections per image (before the class filter).
        download_dir: where a downloaded asset goes (None: ultralytics' weights_dir).

    Raises:
        DetectorUnavailable: ultralytics is missing or the weights cannot be found or downloaded.
        ValueError: a bad argument (unknown class, score outside [0, 1]).
    """

    name = "ultralytics"

    def __init__(self, weights: str = "yolo11n-seg.pt", device: str = "cpu",
                 min_score: float = 0.25, classes: Iterable[str | int] | None = None,
                 imgsz: int = 640, max_det: int = 100,
                 download_dir: str | Path | None = None) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score={min_score!r} must be within [0, 1]")
        if max_det < 1:
            raise ValueError(f"max_det={max_det!r} must be >= 1")
        try:
            from ultralytics import YOLO
        except ImportError as e:  # pragma: no cover - environment problem
            raise DetectorUnavailable(
                f"detector 'ultralytics' needs the ultralytics package: {e}; "
                "use detector=mediapipe") from e
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        path = resolve_weights(weights, download_dir)
        try:
            self._model = YOLO(path)
        except Exception as e:  # corrupt or incompatible file
            raise DetectorUnavailable(
                f"cannot load ultralytics weights '{path}': {type(e).__name__}: {e}") from e
        self.task = str(self._model.task)
        if self.task not in ("segment", "pose", "detect"):
            raise DetectorUnavailable(
                f"ultralytics weights '{path}' are a '{self.task}' model; "
                "need a segment, pose or detect model")
        self.names = model_class_names(self._model.names, self.task)
        self._class_ids = class_filter_ids(classes, self.names)
        self._device = device
        self._min_score = float(min_score)
        self._imgsz = int(imgsz)
        self._max_det = int(max_det)

    def __call__(self, rgb: np.ndarray) -> Detections:
        """(H, W, 3) uint8 RGB -> persons and objects in full-resolution pixels."""
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # ultralytics takes numpy images as BGR
        result = self._model.predict(
            bgr, conf=self._min_score, classes=self._class_ids, device=self._device,
            imgsz=self._imgsz, max_det=self._max_det, retina_masks=True, verbose=False)[0]
        return results_to_detections(result, min_score=self._min_score, class_ids=self._class_ids,
                                     names=self.names, detector=self.name)

    def close(self) -> None:
        """Drop the model and free cached GPU memory."""
        self._model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
