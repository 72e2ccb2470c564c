"""The run store's files: read without running code, written without losing the previous one, one trainer per run.

A run store is one folder per run key, ``<store>/<key>/`` with ``config.json`` (what the run is), ``checkpoint.pt``
(the last finished epoch) and ``result.pt`` (the finished run). It is meant to be shared: by the notebooks of
one report, by two kernels (``make report JOBS=2``) and by the workers of a Ray cluster on shared storage.
This module is the one place that reads and writes those files:

* :func:`load_torch` reads a ``.pt`` file with ``torch.load(weights_only=True)``: tensors, numbers, strings,
  lists, tuples and dicts only, so a file that holds anything else (a pickle whose ``__reduce__`` calls
  ``os.system``) is refused before any of it runs. NumPy arrays are stored as tensors (:func:`to_plain`,
  :func:`from_plain`), so nothing needs to be allow-listed.
* A file that does not load (code inside, truncated, empty, not a torch file, JSON that is not a run's) raises
  :class:`DamagedFile`; the caller renames it aside with :func:`set_aside` (never deleted) and goes on.
* :func:`save_torch` / :func:`save_json` write to a temporary file in the same folder and rename it over the
  old one: a write that fails (a full disk) leaves the previous file as it was and raises
  :class:`StoreWriteError` naming the path and the cause.
* :func:`load_result` / :func:`save_result` read and write a finished run's ``result.pt`` (one of another run
  raises :class:`OtherRun`); :func:`check_record` sets aside a ``config.json`` that is not the run's.
* :class:`RunLock` is one lock file per run folder, created atomically (``O_CREAT | O_EXCL``) with the owner's
  host and pid: a second process that needs the same run waits for it and then loads the result. A lock
  whose owner is gone (a dead pid on this host, or no sign of life for :data:`STALE_AFTER_S` seconds on
  another host: the owner touches the lock after every epoch) is broken with a note.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
import uuid
from pathlib import Path

import numpy as np
import torch

RESULT_NAME = "result.pt"
CONFIG_NAME = "config.json"
CHECKPOINT_NAME = "checkpoint.pt"
LOCK_NAME = "lock"
#: A lock of another host with no sign of life (its owner touches it after every epoch) for this long is broken.
#: ``$DIVE_LOCK_STALE_S`` replaces it (seconds).
STALE_AFTER_S = 6 * 3600.0
#: How often a process waiting for another's run looks again (seconds).
POLL_S = 1.0


class DamagedFile(Exception):
    """A stored file that cannot be used: ``path`` and ``why`` (one line)."""

    def __init__(self, path: str | os.PathLike, why: str):
        super().__init__(f"{path}: {why}")
        self.path, self.why = Path(path), why


class OtherRun(DamagedFile):
    """A stored file that belongs to another run (another key or config)."""


class StoreWriteError(OSError):
    """Writing a store file failed (the previous file, if any, is intact)."""


# ------------------------------------------------------------------------------ plain data


def to_plain(obj):
    """``obj`` with every NumPy array as ``{"__ndarray__": tensor}`` and NumPy scalars as Python numbers:
    what ``torch.load(weights_only=True)`` reads back without any allow-list."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biufc":
            return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(obj).copy())}
        return {"__ndarray_list__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    return obj


def from_plain(obj):
    """The inverse of :func:`to_plain`."""
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__"}:
            return obj["__ndarray__"].numpy()
        if set(obj) == {"__ndarray_list__", "dtype"}:
            return np.array(obj["__ndarray_list__"], dtype=obj["dtype"])
        return {k: from_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(from_plain(v) for v in obj)
    return obj


# ------------------------------------------------------------------------------ read


def _why(path: Path, err: BaseException) -> str:
    text = str(err)
    if isinstance(err, torch.serialization.pickle.UnpicklingError) or "Weights only load failed" in text:
        what = next((ln.strip() for ln in text.splitlines() if "GLOBAL" in ln or "Unsupported" in ln), "")
        return "holds objects other than tensors and plain data, refused unread (weights_only)" + (
            f": {what[:160]}" if what else ""
        )
    if "central directory" in text or "zip archive" in text or isinstance(err, EOFError):
        first = text.strip().splitlines()[0][:120] if text.strip() else ""
        return f"is truncated or corrupt ({type(err).__name__}: {first})"
    first = text.strip().splitlines()[0][:160] if text.strip() else ""
    return f"could not be read ({type(err).__name__}: {first})"


def load_torch(path: str | os.PathLike, map_location="cpu"):
    """The object in the ``.pt`` file at ``path``, read with ``weights_only=True`` (None when there is none).
    Raises :class:`DamagedFile` when it is empty, truncated, not a torch file, or holds anything but
    tensors and plain data (nothing in it runs)."""
    path = Path(path)
    if not path.is_file():
        return None
    if path.stat().st_size == 0:
        raise DamagedFile(path, "is empty")
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):  # torch's zip format, or legacy pickle
        raise DamagedFile(path, f"is not a torch file (it starts with {head!r})")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise DamagedFile(path, _why(path, err)) from err


def load_json(path: str | os.PathLike) -> dict | None:
    """The JSON object at ``path`` (None when there is none); :class:`DamagedFile` when it is not one."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DamagedFile(path, f"is not JSON ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise DamagedFile(path, f"holds a JSON {type(obj).__name__}, not a run's record")
    return obj


def set_aside(path: str | os.PathLike, why: str) -> str:
    """Rename ``path`` to ``<name>.set-aside[-N]`` beside it (never deleted) and return a one-line note."""
    path = Path(path)
    n, target = 1, path.with_name(f"{path.name}.set-aside")
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.set-aside-{n}")
    path.rename(target)
    return f"{why}; it was set aside as {target}"


def load_result(run_dir: str | os.PathLike, key: str, config: dict) -> dict | None:
    """The finished run in ``run_dir`` (its ``result.pt``, NumPy arrays back as arrays), or None when there is none.

    Raises :class:`DamagedFile` when the file cannot be read without running code, is damaged or is not a run's
    result, and :class:`OtherRun` when it is the result of another run than ``key`` with ``config``."""
    path = Path(run_dir) / RESULT_NAME
    saved = load_torch(path)
    if saved is None:
        return None
    if not isinstance(saved, dict) or not {"key", "config", "model", "fit", "val"} <= set(saved):
        raise DamagedFile(path, f"is not a dive run result (a {type(saved).__name__} without key, model, fit)")
    if saved.get("key") != key or saved.get("config") != config:
        raise OtherRun(path, f"is the result of run {saved.get('key')!r}, not {key!r}")
    return from_plain(saved)


def finished_runs(root: str | os.PathLike) -> int:
    """How many finished runs the run store ``root`` holds (run folders with a stored result; 0 where there is no
    store yet). A report that starts with 0 trains every run it shows: its time is a first run's."""
    root = Path(root)
    return sum(1 for _ in root.glob(f"*/{RESULT_NAME}")) if root.is_dir() else 0


def check_record(run_dir: str | os.PathLike, key: str) -> str | None:
    """``config.json`` of ``run_dir`` must be run ``key``'s record: one that is not, or is damaged, is set aside
    (returned: a note saying so; None: it is this run's, or there is none)."""
    path = Path(run_dir) / CONFIG_NAME
    try:
        rec = load_json(path)
    except DamagedFile as err:
        return set_aside(path, f"the run record {err}") + "; a new one is written"
    if rec is not None and rec.get("key") != key:
        why = f"the run record {path} names run {rec.get('key')!r}, not {key!r}"
        return set_aside(path, why) + "; a new one is written"
    return None


# ------------------------------------------------------------------------------ write


def _write_atomic(path: Path, write) -> None:
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # two writers never share one
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        cause = err.strerror or str(err) or type(err).__name__
        raise StoreWriteError(
            err.errno,
            f"could not write {path}: {cause}; the previous {path.name} (if any) is unchanged",
        ) from err


def save_torch(obj, path: str | os.PathLike) -> None:
    """``torch.save(obj)`` to a temporary file beside ``path``, then renamed over it (all or nothing)."""
    _write_atomic(Path(path), lambda tmp: torch.save(obj, tmp))


def save_result(run_dir: str | os.PathLike, result: dict) -> None:
    """A finished run's ``result.pt`` in ``run_dir`` (NumPy arrays as tensors: :func:`to_plain`), all or nothing."""
    save_torch(to_plain(result), Path(run_dir) / RESULT_NAME)


def save_json(obj: dict, path: str | os.PathLike) -> None:
    """``obj`` as indented, key-sorted JSON at ``path`` (all or nothing, like :func:`save_torch`)."""
    text = json.dumps(obj, indent=2, sort_keys=True)
    _write_atomic(Path(path), lambda tmp: Path(tmp).write_text(text))


# ------------------------------------------------------------------------------ lock


def stale_after_s() -> float:
    return float(os.environ.get("DIVE_LOCK_STALE_S") or STALE_AFTER_S)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError as err:
        return err.errno != errno.ESRCH
    return True


#: Lock files this process holds (a lock file naming this pid that is not among them is a dead process's).
_HELD: set[str] = set()


class RunLock:
    """The lock of one run folder: ``with RunLock(run_dir) as lock:`` waits until this process owns it.

    ``lock.notes`` says what happened on the way (a wait for another process, a lock broken because its
    owner is gone); :meth:`touch` (after every epoch) tells other hosts the owner is alive.
    """

    def __init__(self, run_dir: str | os.PathLike, *, poll_s: float = POLL_S, stale_s: float | None = None, say=None):
        self.path = Path(run_dir) / LOCK_NAME
        self.poll_s = poll_s
        self.stale_s = stale_after_s() if stale_s is None else float(stale_s)
        self.say = say or (lambda text: print(text, flush=True))
        self.notes: list[str] = []
        self.waited_s = 0.0
        self.owner = {"host": socket.gethostname(), "pid": os.getpid()}

    # -- owner

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump({**self.owner, "since": time.time()}, f)
        _HELD.add(str(self.path))
        return True

    def touch(self, *_args) -> None:
        """A sign of life for waiting processes on other hosts (also usable as a ``fit`` callback)."""
        try:
            os.utime(self.path)
        except OSError:
            pass

    def release(self) -> None:
        if str(self.path) in _HELD:
            _HELD.discard(str(self.path))
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    # -- waiter

    def _read_owner(self) -> tuple[dict | None, float | None]:
        try:
            text, mtime = self.path.read_text(), self.path.stat().st_mtime
        except FileNotFoundError:
            return None, None
        try:
            info = json.loads(text)
        except json.JSONDecodeError:
            info = {}
        return (info if isinstance(info, dict) else {}), mtime

    def _gone(self, info: dict, mtime: float) -> str | None:
        """Why the owner of the lock is gone (None: it may still be working)."""
        host, pid = info.get("host"), info.get("pid")
        age = time.time() - mtime
        if not info and age > 60:
            return f"the lock file names no owner and is {age:.0f} s old (its owner died while creating it)"
        if host == self.owner["host"] and isinstance(pid, int):
            if pid == os.getpid() and str(self.path) not in _HELD:
                return f"pid {pid} on {host} is this process, which does not hold it (left by an earlier process)"
            if pid != os.getpid() and not _pid_alive(pid):
                return f"its owner, pid {pid} on {host}, is no longer running"
            return None
        if age > self.stale_s:
            who = f"pid {pid} on {host}" if host else "an unknown owner"
            return f"its owner, {who}, gave no sign of life for {age:.0f} s (limit {self.stale_s:.0f} s)"
        return None

    def _break(self, info: dict, why: str) -> None:
        """Take the stale lock out of the way; if another waiter replaced it meanwhile, put that one back."""
        aside = self.path.with_name(f"{LOCK_NAME}.broken.{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            taken = json.loads(aside.read_text())
        except (OSError, json.JSONDecodeError):
            taken = {}
        if taken != info:  # not the lock judged stale: someone else's fresh one
            try:
                os.link(aside, self.path)
            except OSError:
                pass
            aside.unlink(missing_ok=True)
            return
        aside.unlink(missing_ok=True)
        note = f"{self.path}: a lock was broken: {why}"
        self.notes.append(note)
        self.say(note)

    def acquire(self, timeout_s: float | None = None) -> RunLock:
        t0, told = time.monotonic(), False
        while not self._try_create():
            info, mtime = self._read_owner()
            if info is None:
                continue  # released meanwhile
            why = self._gone(info, mtime)
            if why:
                self._break(info, why)
                continue
            if not told:
                who = f"pid {info.get('pid')} on {info.get('host')}" if info else "another process"
                note = f"{self.path.parent}: waiting for {who}, which is training this run"
                self.say(note)
                told = True
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"{self.path} is still held by {info} after {timeout_s:.0f} s")
            time.sleep(self.poll_s)
        self.waited_s = time.monotonic() - t0
        if told:
            self.notes.append(f"{self.path.parent}: waited {self.waited_s:.1f} s for another process training this run")
        return self

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
