"""numpy's BLAS on one thread while the CPU renderer's own threads each use one core.

numpy's matrix products run in its BLAS library (OpenBLAS in numpy's wheels), which
splits every product over all cores and keeps its threads spinning for a while after.
The CPU renderer (``cpu_tiles``) instead gives each core whole tiles of pixels, products
and activations alike; BLAS threads beside those would fight them for the same cores.
``one_thread()`` pins OpenBLAS to one thread for its duration (nested and concurrent
uses are counted) and then gives back the count it found.

Where numpy's BLAS is not OpenBLAS, or its library cannot be found, it does nothing and
says so (``controllable``): numpy built without BLAS multiplies on the calling thread
anyway.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
import threading
from pathlib import Path

import numpy as np

_SYMBOL_PREFIXES = ("openblas_", "scipy_openblas_")
_SYMBOL_SUFFIXES = ("64_", "")
_lock = threading.Lock()
_users = 0
_saved_threads = 0


def _candidate_libraries() -> list[str]:
    """Paths of the OpenBLAS libraries numpy ships, then of any others this process has
    loaded (Linux; e.g. a system numpy's): numpy's own come first, not scipy's."""
    numpy_dir = Path(np.__file__).parent
    paths = []
    for folder in (numpy_dir.parent / "numpy.libs", numpy_dir / ".dylibs", numpy_dir / ".libs"):
        paths += sorted(glob.glob(str(folder / "*openblas*")))
    try:
        with open("/proc/self/maps") as maps:
            paths += [fields[5].strip() for fields in (line.split(None, 5) for line in maps)
                      if len(fields) == 6 and "openblas" in fields[5].lower()]
    except OSError:  # not Linux
        pass
    return list(dict.fromkeys(path for path in paths if os.path.exists(path)))


@functools.lru_cache(maxsize=None)
def _function(name: str):
    """OpenBLAS's function ``name`` (e.g. ``get_num_threads``, under any of the names
    numpy's OpenBLAS builds give it), or None."""
    for path in _candidate_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _SYMBOL_PREFIXES:
            for suffix in _SYMBOL_SUFFIXES:
                function = getattr(library, f"{prefix}{name}{suffix}", None)
                if function is not None:
                    return function
    return None


@functools.lru_cache(maxsize=1)
def _controls() -> tuple | None:
    """``(get_num_threads, set_num_threads)`` of numpy's OpenBLAS, or None."""
    getter, setter = _function("get_num_threads"), _function("set_num_threads")
    if getter is None or setter is None:
        return None
    getter.restype, getter.argtypes = ctypes.c_int, []
    setter.restype, setter.argtypes = None, [ctypes.c_int]
    return getter, setter


def describe() -> str:
    """numpy's OpenBLAS as it describes itself (version, build, the CPU kernels it took), or why not."""
    config = _function("get_config")
    if config is None:
        return "numpy's BLAS is not OpenBLAS, or was not found"
    config.restype = ctypes.c_char_p
    return config().decode(errors="replace")


def controllable() -> bool:
    """Whether numpy's BLAS threads can be pinned here (OpenBLAS found)."""
    return _controls() is not None


def threads() -> int:
    """numpy's BLAS thread count now (0 when not ``controllable``)."""
    controls = _controls()
    return controls[0]() if controls is not None else 0


@contextlib.contextmanager
def one_thread():
    """numpy's matrix products on the calling thread only, for the ``with`` block."""
    global _users, _saved_threads
    controls = _controls()
    if controls is None:
        yield
        return
    get_threads, set_threads = controls
    with _lock:
        if _users == 0:
            _saved_threads = get_threads()
            set_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                set_threads(_saved_threads)
