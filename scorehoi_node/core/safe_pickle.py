"""Restricted unpickling for files from the internet (dataset fits, SMPL-family model files).

Unpickling runs arbitrary code named by the file, so `load_numpy_pickle` uses an unpickler that
only resolves the globals numpy needs to rebuild arrays and scalars (plus `_codecs.encode`, which
protocol-2 pickles use for raw bytes, and the extra pairs a caller names) and refuses the rest.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path


_ALLOWED_PICKLE_GLOBALS = frozenset({
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
})


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array/scalar reconstruction globals (plus `extra`
    (module, name) pairs)."""

    def __init__(self, *args, extra: frozenset = frozenset(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._allowed = _ALLOWED_PICKLE_GLOBALS | extra

    def find_class(self, module: str, name: str) -> object:
        canonical = module
        if canonical == "numpy.core" or canonical.startswith("numpy.core."):
            canonical = "numpy._core" + canonical[len("numpy.core"):]  # numpy 1.x pickles
        if (canonical, name) not in self._allowed:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}")
        return super().find_class(canonical, name)


def load_numpy_pickle(path: str | Path, extra_globals: frozenset = frozenset()) -> object:
    """Load a pickle (dataset fits, body-model files) that may only contain numpy arrays,
    scalars and containers (plus the `extra_globals` (module, name) pairs).

    Python 2 pickles load too (bytes decoded as latin-1, as numpy requires).

    Raises:
        FileNotFoundError: `path` is missing.
        ValueError: the pickle references any other global (e.g. `os.system`) or is corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pickle not found: {path}")
    data = path.read_bytes()
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1",
                                   extra=extra_globals).load()
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path}: unsafe or corrupt pickle ({exc}); only numpy arrays, numbers, "
                         "strings, lists and dicts are accepted") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise ValueError(f"{path}: corrupt pickle ({type(exc).__name__}: {exc})") from None
