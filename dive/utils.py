"""Small shared helpers: seeding, device choice, run metadata."""

from __future__ import annotations

import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

DEFAULT_SEED = 22  # the report's seed (section 3.5)
REPO_ROOT = Path(__file__).resolve().parent.parent


def seed_everything(seed: int = DEFAULT_SEED, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA).

    ``deterministic=True`` also asks torch for deterministic algorithms (and cuDNN's
    deterministic mode), as the report's discussion (4.2) wished it had done.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # set both ways, so that a deterministic run does not leave the rest of the process deterministic (slower)
    torch.use_deterministic_algorithms(bool(deterministic), warn_only=True)
    torch.backends.cudnn.deterministic = bool(deterministic)
    if deterministic:
        torch.backends.cudnn.benchmark = False


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None): CUDA if available, else Apple MPS, else CPU."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} was asked for, but CUDA is not available here; use device='auto' or 'cpu'"
        )
    return dev


def device_name(device: torch.device) -> str:
    """A human-readable device description for run metadata."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return str(device)


CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo(path: Path | str | None = None) -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (or of ``path``), keys lower-cased; empty where it cannot
    be read (not Linux)."""
    fields: dict[str, str] = {}
    try:
        text = Path(path or CPUINFO).read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def cpu_model(path: Path | str | None = None) -> str:
    """The CPU's model name (``/proc/cpuinfo``; elsewhere what :mod:`platform` knows): every measured time is
    stated with the machine it was measured on."""
    return _cpuinfo(path).get("model name") or platform.processor() or platform.machine()


def cpu_id(path: Path | str | None = None) -> str | None:
    """The CPU's vendor, family, model and stepping as ``/proc/cpuinfo`` numbers them ("AuthenticAMD family 25
    model 17 stepping 1": Zen 4), None where they cannot be read. Virtual machines often name the CPU only "AMD
    EPYC"; these numbers still tell one generation from another."""
    info = _cpuinfo(path)
    if "cpu family" not in info or "model" not in info:
        return None
    parts = [info.get("vendor_id", "").strip(), f"family {info['cpu family']}", f"model {info['model']}"]
    if "stepping" in info:
        parts.append(f"stepping {info['stepping']}")
    return " ".join(p for p in parts if p)


#: The CPU features that change how fast dive trains on a CPU (bf16 and matrix units), as /proc/cpuinfo names them.
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_features(path: Path | str | None = None) -> list[str]:
    """Which of :data:`CPU_FEATURES` this CPU has (``/proc/cpuinfo``; an empty list where it cannot be read): two
    hosts called "AMD EPYC" can differ in exactly these."""
    flags = set(_cpuinfo(path).get("flags", "").split())
    return [f for f in CPU_FEATURES if f in flags]


def git_commit(short: bool = True) -> str | None:
    """The repository's current commit (None outside a git checkout)."""
    args = ["git", "rev-parse", "--short", "HEAD"] if short else ["git", "rev-parse", "HEAD"]
    try:
        out = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None
