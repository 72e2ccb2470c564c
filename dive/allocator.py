"""The C allocator while dive trains: freed memory kept for the next step (glibc, i.e. most Linux).

PyTorch's CPU allocator takes every tensor from ``malloc`` and gives it back with ``free``, and a training step
frees and allocates the same large tensors again and again (AlexNet's first fully connected layer alone: a 151 MB
weight gradient, and Adam's temporaries of that size, every step). glibc's ``malloc`` serves each request above its
mmap threshold (at most 32 MiB on 64-bit systems, however it is set) with a fresh ``mmap`` and returns it with
``munmap``, so with its defaults every step maps new pages that the kernel must zero on first touch: on the 2-core AMD
EPYC of ``benchmarks/results.md`` ("The C allocator"), one epoch of quick's AlexNet at 32 px on BreastMNIST took 3.1
million page faults and 5-9 s of system time, where the arithmetic takes 8 s of user time.

:func:`keep_freed_memory` (called by :func:`dive.train.fit` and :func:`dive.metrics.predict`) sets
``M_MMAP_MAX`` to 0 (large blocks come from the heap, and a freed block is reused by the next step) and
``M_TRIM_THRESHOLD`` high (the heap is not shrunk after every ``free``). :func:`release_freed_memory`
(``malloc_trim(0)``, called when ``fit`` ends) hands the free memory back to the system, so a process holds its peak
only while a run trains. The numbers a run computes are the same bit for bit: only where the memory comes from
changes.

``$DIVE_MALLOC``: ``keep`` (default) or ``system`` (glibc's defaults, untouched). Nothing changes either way on
another C library (macOS, Windows, musl), nor where the process was started with glibc's own malloc settings
(``GLIBC_TUNABLES`` with ``glibc.malloc.*`` or a ``MALLOC_*_`` variable): those are the user's choice.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
import threading

#: ``$DIVE_MALLOC``'s values.
MODES = ("keep", "system")
ENV = "DIVE_MALLOC"

# mallopt(3) parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: Free memory at the top of the heap kept before glibc shrinks it (bytes; the parameter is an int): 1 GiB.
TRIM_THRESHOLD = 1 << 30

_lock = threading.Lock()
_state: dict = {}


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (glibc >= 2.33): ``hblkhd`` is the bytes held in mmap-ed blocks."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def mode() -> str:
    """``$DIVE_MALLOC`` (``keep`` when unset); any other value is an error naming the variable."""
    value = os.environ.get(ENV, "").strip().lower() or "keep"
    if value not in MODES:
        raise ValueError(f"${ENV}={os.environ[ENV]!r} is not one of {', '.join(MODES)}")
    return value


@functools.lru_cache(maxsize=1)
def _libc():
    """glibc's ``libc.so.6`` when this process runs on glibc, else None (looked up once: ``platform.libc_ver``
    reads the Python executable)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if all(hasattr(libc, f) for f in ("mallopt", "malloc_trim")) else None


def _user_settings() -> str | None:
    """The malloc settings this process was started with, if any (then dive leaves malloc alone)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc." in tunables:
        return f"GLIBC_TUNABLES={tunables}"
    named = sorted(k for k in os.environ if k.startswith("MALLOC_") and k.endswith("_"))
    return named[0] if named else None


def keep_freed_memory() -> str | None:
    """Keep freed memory in the process for the next step (see the module's doc); once per process.

    Returns what was set, or None where nothing was (``$DIVE_MALLOC=system``, not glibc, or malloc settings the
    process was started with). Checks ``$DIVE_MALLOC`` on every call (a bad value raises ``ValueError``)."""
    wanted = mode()
    with _lock:
        if "set" in _state:
            return _state["set"]
        done = None
        libc = _libc() if wanted == "keep" else None
        if libc is not None and _user_settings() is None:
            ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            done = f"glibc malloc: M_MMAP_MAX 0, M_TRIM_THRESHOLD {TRIM_THRESHOLD}" if ok else None
        _state["set"] = done
        return done


def release_freed_memory() -> bool:
    """Give the free memory of the heap back to the system (``malloc_trim(0)``) where :func:`keep_freed_memory`
    kept it; True when memory was released."""
    with _lock:
        if not _state.get("set"):
            return False
        return bool(_libc().malloc_trim(0))


def mmapped_bytes() -> int | None:
    """Bytes this process holds in mmap-ed malloc blocks (``mallinfo2().hblkhd``; None where unknown)."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = MallInfo2
    return int(libc.mallinfo2().hblkhd)
