"""Numeric precision, memory format and compilation of a run: what ``"auto"`` means on each device.

:func:`plan` turns the requested settings (``precision``, ``channels_last``, ``compile``; each may be
``"auto"``) into a :class:`Plan` for one device and model; the training loop then uses

* :func:`autocast` around forward passes (training *and* evaluation/prediction, which run under
  ``torch.inference_mode()``): mixed precision by ``torch.autocast`` — weights, optimizer state, loss
  and metrics stay float32 (never ``.half()``);
* :func:`grad_scaler` (float16 on CUDA only; ``None`` otherwise);
* :func:`prepare_model` / :func:`prepare_input` for channels_last and ``torch.compile`` (a compilation
  that fails never stops a run: one warning, and the eager model).

``"auto"`` picks what is fastest *and* safe, from measurements (:data:`CPU_TABLE`,
``benchmarks/results.md``, ``python -m benchmarks.precision_probe``):

* CPU: bfloat16 autocast only where the CPU computes bfloat16 natively (AMX tiles or AVX512-BF16, as
  PyTorch's own build reports it) *and* it was measured faster for that model family; float32 elsewhere,
  since emulated bfloat16 is slower. channels_last only for the families where it was measured faster.
  ``torch.compile`` off (not measured faster here; see the table).
* CUDA: bfloat16 where the GPU supports it, else float16 with a gradient scaler; channels_last for the
  convolutional nets (PyTorch's guidance for tensor cores; not measured here — ``benchmarks/gpu_check.sh``).
* Other devices (MPS): float32, contiguous (not measured).

``precision="fp16"`` on a CPU is refused with an error rather than quietly replaced: float16 autocast on
CPU is emulated (slower than float32 without AMX-FP16) and its gradients would need a scaler that CPU
training loops do not use; ``"bf16"`` is the CPU's half precision.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CHANNELS_LAST = ("auto", True, False)
COMPILE = ("auto", True, False)

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Measured(NamedTuple):
    """Whether a setting beat plain float32 for one model family on a CPU kind (see ``benchmarks/results.md``)."""

    bf16: bool  # bfloat16 autocast faster than float32 (each in its faster memory format)
    channels_last_fp32: bool  # channels_last faster than contiguous in float32
    channels_last_bf16: bool  # channels_last faster than contiguous under bfloat16 autocast
    compile: bool  # torch.compile faster (including its compile time over a short run)


#: What was measured faster, by CPU kind and model family (``python -m benchmarks.precision_probe``; the numbers
#: are in ``benchmarks/results.md``). "Faster" means at least 5% less time per training step, by the process CPU
#: time (robust on a shared host) and not contradicted by the fastest wall-clock step. A family that is not listed
#: was not measured: "auto" keeps float32 and contiguous tensors for it. An AMX CPU also has AVX512-BF16 (and
#: AMX only makes bfloat16 faster), so a family without an ``"amx"`` row uses its ``"avx512_bf16"`` row.
CPU_TABLE: dict[str, dict[str, Measured]] = {
    # A CPU with AVX512-BF16 and no AMX, at torch's default threads (what a user runs); where 1 thread and the wall
    # clock disagreed with the CPU time at 2 threads, the row follows what a user gets (the 2-thread wall clock).
    "avx512_bf16": {
        "simplecnn_v1": Measured(bf16=True, channels_last_fp32=True, channels_last_bf16=True, compile=False),
        # bf16 not faster by the wall clock at 2 threads, and bf16 + channels_last had erratic slow steps
        "simplecnn": Measured(bf16=False, channels_last_fp32=True, channels_last_bf16=False, compile=False),
        # fp32's wall-clock steps were the fastest at 2 threads, whatever the CPU time said
        "alexnet": Measured(bf16=False, channels_last_fp32=False, channels_last_bf16=False, compile=False),
        # ResNet18 at 224 px. channels_last under bf16: lost by the wall clock at 2 threads under load (2026-11-29), won
        # on a quiet host at 2 threads (2026-12-04, make bench's host bound: training step 1122 against 1199 ms,
        # evaluation 309 against 424 ms; at one thread 1772 / 2483 and 593 / 846 ms): benchmarks/results.md
        "resnet": Measured(bf16=True, channels_last_fp32=True, channels_last_bf16=True, compile=False),
        "xception": Measured(bf16=True, channels_last_fp32=True, channels_last_bf16=True, compile=False),
    },
    # AMX tiles (issue #9's probe, wall clock)
    "amx": {
        "simplecnn": Measured(bf16=True, channels_last_fp32=True, channels_last_bf16=True, compile=False),
        "resnet": Measured(bf16=True, channels_last_fp32=True, channels_last_bf16=True, compile=False),
    },
}
_TABLE_FALLBACK = {"amx": "avx512_bf16"}
#: The input side each family was measured at. A measurement holds only near its size (bfloat16 that is faster for
#: ResNet-18 at 224 px was much slower at 32 px: ``benchmarks/results.md``), so inputs under half the measured side
#: count as "not measured" (fp32).
MEASURED_SIZE = {"simplecnn_v1": 28, "simplecnn": 28, "alexnet": 224, "resnet": 224, "xception": 168}

_CONV_FAMILIES = ("simplecnn_v1", "simplecnn", "alexnet", "resnet", "xception")


@dataclass(frozen=True)
class Plan:
    """What a run actually uses on its device (resolved: never ``"auto"``)."""

    precision: str  # "fp32" | "bf16" | "fp16"
    channels_last: bool
    compile: bool
    reason: str = ""  # one line: why "auto" chose this (recorded with the run)

    def __post_init__(self):
        if self.precision not in _DTYPES:
            raise ValueError(f"Plan.precision must be one of {', '.join(_DTYPES)}, got {self.precision!r}")

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype of ``torch.autocast`` (None: plain float32)."""
        return _DTYPES[self.precision]

    @property
    def needs_scaler(self) -> bool:
        """float16 needs a gradient scaler (:func:`plan` only gives float16 on CUDA)."""
        return self.precision == "fp16"

    def as_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------- detection


def cpu_bf16_support() -> tuple[bool, str]:
    """Whether this CPU computes bfloat16 natively, as the PyTorch build reports it, and which way.

    Returns ``(supported, kind)``: kind ``"amx"`` (AMX tiles), ``"avx512_bf16"``, or a short reason it is not."""
    cpu = getattr(torch, "cpu", None)

    def flag(name: str) -> bool:
        fn = getattr(cpu, name, None)
        try:
            return bool(fn()) if fn is not None else False
        except Exception:  # pragma: no cover - private helpers of the build
            return False

    if not torch.backends.mkldnn.is_available():
        return False, "PyTorch built without oneDNN"
    try:
        onednn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # pragma: no cover - older builds
        onednn_bf16 = True
    if flag("_is_amx_tile_supported") and onednn_bf16:
        return True, "amx"
    if flag("_is_avx512_bf16_supported") and onednn_bf16:
        return True, "avx512_bf16"
    return False, "no AMX or AVX512-BF16"


def cuda_bf16_support(device: torch.device) -> bool:
    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def model_family(model_name: str) -> str:
    """``resnet18``…``resnet152`` share the family ``resnet`` (measured: ResNet18 at 224 px); the others, including
    the 28 px ResNets (``resnet18_28``: other layer shapes, not measured), are their own name."""
    key = str(model_name).strip().lower().replace("-", "_")
    return "resnet" if key.startswith("resnet") and key[len("resnet") :].isdigit() else key


# ----------------------------------------------------------------------------- plan


def _measured(kind: str, family: str) -> tuple[Measured | None, str]:
    """The table row for ``family`` on a ``kind`` CPU, and the kind it was measured on."""
    for k in (kind, _TABLE_FALLBACK.get(kind)):
        if k is not None and family in CPU_TABLE.get(k, {}):
            return CPU_TABLE[k][family], k
    return None, kind


def _check(precision, channels_last, compile) -> str:
    prec = precision.lower() if isinstance(precision, str) else precision
    if prec not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(map(repr, PRECISIONS))}")
    if not (channels_last == "auto" or isinstance(channels_last, bool)):
        raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")
    if not (compile == "auto" or isinstance(compile, bool)):
        raise ValueError(f"compile must be False, True or 'auto', got {compile!r}")
    return prec


def plan(
    precision="auto", channels_last="auto", compile=False, *, device, model_name: str, image_size: int | None = None
) -> Plan:
    """Resolve the requested settings for ``device`` and ``model_name`` (see the module docstring).

    ``image_size``: the side the network sees; a measurement at a much larger side (:data:`MEASURED_SIZE`) does
    not count for it. Explicit values are honoured (``"bf16"`` on a CPU without native bfloat16 runs, slowly,
    and the reason says so); impossible ones fail here, before any work: ``"fp16"`` on a CPU, ``"bf16"`` on a
    GPU without it.
    """
    prec = _check(precision, channels_last, compile)
    device = torch.device(device)
    family = model_family(model_name)
    why: list[str] = []

    if device.type == "cpu":
        native, kind = cpu_bf16_support()
        measured, row = _measured(kind, family) if native else (None, kind)
        size = MEASURED_SIZE.get(family)
        if measured is not None and image_size is not None and size is not None and image_size < size / 2:
            measured = None
            kind = f"{kind} (measured at {size} px, not at {image_size} px)"
        if prec == "fp16":
            raise ValueError(
                "precision 'fp16' is for CUDA devices; on a CPU use 'bf16' (native on AMX / AVX512-BF16 CPUs) or 'auto'"
            )
        if prec == "auto":
            if not native:
                prec = "fp32"
                why.append(f"fp32: this CPU has {kind}, so bf16 would be emulated and slower")
            elif measured is None:
                prec = "fp32"
                why.append(f"fp32: bf16 not measured for {family} on an {kind} CPU")
            elif measured.bf16:
                prec = "bf16"
                why.append(
                    f"bf16 autocast: {kind} CPU, measured faster for {family}"
                    + (f" (on an {row} CPU)" if row != kind else "")
                )
            else:
                prec = "fp32"
                why.append(f"fp32: bf16 measured not faster for {family} on an {kind} CPU")
        elif prec == "bf16" and not native:
            why.append(f"bf16 as requested (this CPU has {kind}: emulated, expect it slower than fp32)")
        else:
            why.append(f"{prec} as requested")
        if channels_last == "auto":
            cl = measured is not None and (
                measured.channels_last_bf16 if prec == "bf16" else measured.channels_last_fp32
            )
            why.append("channels_last: measured faster" if cl else "contiguous: channels_last not measured faster")
        else:
            cl = channels_last
        if compile == "auto":
            comp = bool(measured is not None and measured.compile)
            why.append("compiled: measured faster" if comp else "eager: compile not measured faster on CPU")
        else:
            comp = compile
    elif device.type == "cuda":
        bf16_ok = cuda_bf16_support(device)
        if prec == "auto":
            prec = "bf16" if bf16_ok else "fp16"
            why.append(
                "bf16 autocast: the GPU supports it" if bf16_ok else "fp16 autocast + GradScaler: the GPU has no bf16"
            )
        elif prec == "bf16" and not bf16_ok:
            raise ValueError(
                f"precision 'bf16' is not supported by this GPU ({device}); "
                "use 'fp16' (with a gradient scaler) or 'auto'"
            )
        else:
            why.append(f"{prec} as requested")
        if channels_last == "auto":
            cl = family in _CONV_FAMILIES
            why.append("channels_last: convolutional net on CUDA" if cl else "contiguous: not a known conv net")
        else:
            cl = channels_last
        comp = False if compile == "auto" else compile
        if compile == "auto":
            why.append("eager: compile not measured on this GPU")
    else:
        if prec == "auto":
            prec = "fp32"
            why.append(f"fp32: mixed precision not measured on {device.type}")
        elif prec == "fp16":
            raise ValueError(f"precision 'fp16' is for CUDA devices, not {device.type}; use 'fp32' or 'auto'")
        else:
            why.append(f"{prec} as requested")
        cl = False if channels_last == "auto" else channels_last
        comp = False if compile == "auto" else compile
    return Plan(prec, bool(cl), bool(comp), "; ".join(why))


# ----------------------------------------------------------------------------- applying a plan


def autocast(device, plan: Plan):
    """The context for forward passes under ``plan``: ``torch.autocast`` or a no-op (float32).

    Use it for training and for evaluation/prediction alike (inside ``torch.inference_mode()``)."""
    dtype = plan.autocast_dtype
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def grad_scaler(device, plan: Plan) -> torch.amp.GradScaler | None:
    """A ``GradScaler`` for float16 (CUDA); ``None`` for float32 and bfloat16, which need none."""
    if not plan.needs_scaler:
        return None
    return torch.amp.GradScaler(torch.device(device).type)


class _CompileFallback:
    """The compiled call of a module; if it fails, the eager call, with one warning (and eager from then on)."""

    def __init__(self, module: torch.nn.Module, compiled):
        self.module, self.compiled = module, compiled

    def __call__(self, *args, **kwargs):
        try:
            return self.compiled(*args, **kwargs)
        except Exception as exc:
            out = self.module._call_impl(*args, **kwargs)  # an error of the model itself is raised here
            self.module._compiled_call_impl = None
            warnings.warn(
                f"torch.compile failed ({type(exc).__name__}: {_first_line(exc)}); running the eager model",
                RuntimeWarning,
                stacklevel=2,
            )
            return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def prepare_model(model: torch.nn.Module, device, plan: Plan) -> torch.nn.Module:
    """Move ``model`` to ``device``; channels_last and ``torch.compile`` when ``plan`` asks.

    Compilation is in place (``nn.Module.compile``: the same module, the same ``state_dict`` keys), and
    never a hard failure: if ``torch.compile`` raises, now or at the first call, one warning and the eager
    model. Parameters stay float32 whatever the precision (autocast casts per operation)."""
    model.to(torch.device(device))
    if plan.channels_last:
        model.to(memory_format=torch.channels_last)
    if plan.compile:
        try:
            model.compile()
        except Exception as exc:
            model._compiled_call_impl = None
            warnings.warn(
                f"torch.compile failed ({type(exc).__name__}: {_first_line(exc)}); running the eager model",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            model._compiled_call_impl = _CompileFallback(model, model._compiled_call_impl)
    return model


def prepare_input(x: torch.Tensor, plan: Plan) -> torch.Tensor:
    """A 4-d image batch in channels_last memory format when ``plan`` asks (other tensors unchanged)."""
    if plan.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
