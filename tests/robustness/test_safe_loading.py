"""Weights and model files never execute code: safetensors, torch.load(weights_only=True), numpy
without pickle, or an unpickler that only rebuilds arrays; bad files give one actionable line."""

import os
import pickle
import re

import numpy as np
import pytest
import scipy.sparse as sp

from scorehoi_node.core.bodies.smplx_body import _load_model_data
from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.pipeline import Pipeline
from tests.conftest import ROOT


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/scorehoi_pwned",))


def test_model_pickles_rebuild_arrays_only(tmp_path):
    good = tmp_path / "SMPLH_NEUTRAL.pkl"
    good.write_bytes(pickle.dumps({"v_template": np.zeros((4, 3)),
                                   "J_regressor": sp.csc_matrix(np.eye(4))}, protocol=2))
    data = _load_model_data(good)
    assert data["J_regressor"].shape == (4, 4) and data["v_template"].shape == (4, 3)
    evil = tmp_path / "SMPLX_NEUTRAL.pkl"
    evil.write_bytes(pickle.dumps({"v_template": _Evil()}))
    with pytest.raises(ValueError, match="unsafe or corrupt pickle.*refusing global") as e:
        _load_model_data(evil)
    assert "\n" not in str(e.value) and not os.path.exists("/tmp/scorehoi_pwned")
    # npz object arrays (pickled) are skipped, not unpickled
    npz = tmp_path / "m.npz"
    np.savez(npz, v_template=np.zeros((2, 3)), joint2num=np.array([{"a": 1}], dtype=object))
    assert set(_load_model_data(npz)) == {"v_template"}


def test_no_unsafe_loaders_in_the_package():
    bad = []
    for path in (ROOT / "scorehoi_node").rglob("*.py"):
        src = path.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", src):
            if "weights_only=True" not in m.group(1):
                bad.append(f"{path}: torch.load without weights_only=True")
        if re.search(r"\bpickle\.loads?\(", src) or "allow_pickle=True" in src:
            bad.append(f"{path}: unrestricted pickle")
    assert not bad, bad


@pytest.mark.parametrize("content, reason", [(None, "does not exist"),
                                             (b"garbage" * 10, "not a readable safetensors")])
def test_missing_or_corrupt_checkpoint_is_one_line(tmp_path, content, reason):
    path = tmp_path / "denoiser.safetensors"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(Exception, match=reason) as e:
        Pipeline(PipelineConfig(refine="fast", denoiser_checkpoint=str(path)))
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_device_resolution():
    import torch

    from scorehoi_node.core.pipeline import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA device") as e:
            resolve_device("cuda")
        assert "\n" not in str(e.value)
