"""Limits a bake checks up front, each refused in one line before any work: the seed's range
and the memory one frame needs."""

from __future__ import annotations

import os

from ..errors import UserError

MAX_SEED = 2**31 - 1
"""Largest seed: Blender's integer properties (the scene's Seed) are signed 32-bit."""
WORKING_BYTES_PER_PIXEL = {"png8": 30, "jpeg": 30, "png16": 48, "exr": 48}
"""Bytes per pixel a bake holds at once: the float frame being drawn (12), the frames waiting
to be written and the one being encoded (3 to 4 copies of 3 or 6 bytes)."""


def check_seed(seed: int) -> None:
    """Refuse a seed outside ``0..MAX_SEED``."""
    if not 0 <= int(seed) <= MAX_SEED:
        raise UserError(f"Seed {seed} is out of range: use a whole number from 0 to {MAX_SEED}")


def frame_memory_bytes(width: int, height: int, image_format: str) -> int:
    """Memory a bake of ``width`` x ``height`` px frames needs while it runs, in bytes (estimate)."""
    return int(width) * int(height) * WORKING_BYTES_PER_PIXEL.get(image_format, 48)


def available_memory_bytes() -> int | None:
    """Memory the system can give this process now without swapping, in bytes; None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if os.name == "nt":
        import ctypes

        class _Status(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong), ("total", ctypes.c_ulonglong),
                        ("available", ctypes.c_ulonglong), ("page_total", ctypes.c_ulonglong),
                        ("page_available", ctypes.c_ulonglong), ("virtual_total", ctypes.c_ulonglong),
                        ("virtual_available", ctypes.c_ulonglong), ("extended", ctypes.c_ulonglong)]

        status = _Status()
        status.length = ctypes.sizeof(_Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return int(status.available)
        return None
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_frame_memory(width: int, height: int, image_format: str, available: int | None = None) -> None:
    """Refuse a frame size whose bake would need more memory than is free (``available``
    bytes, measured when not given); nothing is refused when it cannot be measured."""
    needed = frame_memory_bytes(width, height, image_format)
    available = available_memory_bytes() if available is None else available
    if available is not None and needed > available:
        raise UserError(f"A {width}x{height} px frame needs about {needed / 2**30:.1f} GiB of memory while it is "
                        f"baked, and {available / 2**30:.1f} GiB is free: choose a smaller frame size, or close "
                        f"other programs")
