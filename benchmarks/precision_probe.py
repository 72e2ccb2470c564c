"""Step time of every model family under each precision / memory-format setting (the source of
:data:`dive.precision.CPU_TABLE`).

    python -m benchmarks.precision_probe [--models simplecnn resnet18] [--rounds 3] [--steps 2] [--compile]

For each model at its report size and a small batch: one training step (forward, fp32 cross-entropy,
backward, SGD with momentum) in fp32, fp32 + channels_last, bf16 autocast, bf16 autocast + channels_last
(and, with ``--compile``, torch.compile of the fastest eager setting). The variants run in interleaved rounds,
so they all see the same background load; the median step time over rounds is printed, with each
setting's speed-up over fp32. Synthetic random inputs (the values do not change the arithmetic).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# model: (in_channels, image side, batch) at the report's sizes (MNIST 1 channel; PathMNIST 3)
MODELS = {
    "simplecnn_v1": (1, 28, 64),
    "simplecnn": (3, 28, 64),
    "alexnet": (3, 224, 32),
    "resnet18": (3, 224, 32),
    "xception": (3, 168, 16),
}
VARIANTS = {  # name: (precision, channels_last)
    "fp32": ("fp32", False),
    "fp32_cl": ("fp32", True),
    "bf16": ("bf16", False),
    "bf16_cl": ("bf16", True),
}


def variant(
    model_name: str,
    precision: str,
    channels_last: bool,
    compile_: bool = False,
    *,
    shape: tuple[int, int, int] | None = None,
    num_classes: int = 9,
    train: bool = True,
):
    """One setting of one model family, ready to step: ``(model, optimizer, plan, x, y)`` on the CPU, random inputs.

    ``shape`` = ``(channels, side, batch)`` (default: :data:`MODELS`' report size); ``train=False`` puts the model
    in eval mode for :func:`eval_step` (``benchmarks.throughput`` uses both for its host bound, issue 28)."""
    from dive.models import build_model
    from dive.precision import Plan, prepare_model

    channels, side, batch = shape or MODELS[model_name]
    torch.manual_seed(0)
    size = side if model_name.startswith("simplecnn") else 28  # the SimpleCNNs' flatten size; ignored by the others
    model = build_model(model_name, num_classes, channels, image_size=size)
    plan = Plan(precision, channels_last, compile_, "probe")
    model = prepare_model(model, torch.device("cpu"), plan)
    if not train:
        model.eval()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, channels, side, side)
    y = torch.randint(0, num_classes, (batch,))
    return model, opt, plan, x, y


def train_step(model, opt, plan, x, y) -> None:
    """One training step: forward (under the plan's autocast), fp32 cross-entropy, backward, SGD step."""
    from dive.precision import autocast, prepare_input

    with autocast(torch.device("cpu"), plan):
        out = model(prepare_input(x, plan))
    loss = F.cross_entropy(out.float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def eval_step(model, opt, plan, x, y) -> None:
    """One evaluation batch: forward under ``torch.inference_mode()`` and the plan's autocast, predictions taken."""
    from dive.precision import autocast, prepare_input

    with torch.inference_mode(), autocast(torch.device("cpu"), plan):
        out = model(prepare_input(x, plan))
    (out.argmax(1) == y).sum().item()


def probe(model_name: str, rounds: int, steps: int, compile_: bool, log=print) -> dict:
    variants = {k: variant(model_name, p, cl) for k, (p, cl) in VARIANTS.items()}
    if compile_:
        variants["compiled"] = None  # filled after the eager ranking below
    for v in variants.values():
        if v is not None:
            train_step(*v)  # warm-up (oneDNN primitive creation)
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(rounds):
        if compile_ and r == 1 and variants["compiled"] is None:
            best = min((k for k in VARIANTS), key=lambda k: statistics.median(times[k]))
            p, cl = VARIANTS[best]
            t0 = time.perf_counter()
            variants["compiled"] = variant(model_name, p, cl, compile_=True)
            train_step(*variants["compiled"])
            train_step(*variants["compiled"])
            log(f"  compiled {best}: compile + 2 steps {time.perf_counter() - t0:.1f} s")
            times["compiled"], cpu["compiled"] = [], []
        names = [k for k in variants if variants[k] is not None]
        names = names[r % len(names) :] + names[: r % len(names)]  # rotated order
        for k in names:
            for _ in range(steps):
                t0, c0 = time.perf_counter(), time.process_time()
                train_step(*variants[k])
                times[k].append((time.perf_counter() - t0) * 1e3)
                cpu[k].append((time.process_time() - c0) * 1e3)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    low = {k: min(v) for k, v in times.items() if v}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items() if v}
    out = {
        "model": model_name,
        "channels": MODELS[model_name][0],
        "image_size": MODELS[model_name][1],
        "batch": MODELS[model_name][2],
        "steps": steps,
        "rounds": rounds,
        "step_ms_median": {k: round(v, 1) for k, v in med.items()},
        "step_ms_min": {k: round(v, 1) for k, v in low.items()},
        "speedup_vs_fp32_median": {k: round(med["fp32"] / v, 2) for k, v in med.items()},
        "speedup_vs_fp32_min": {k: round(low["fp32"] / v, 2) for k, v in low.items()},
        "cpu_ms_median": {k: round(v, 1) for k, v in cpu_med.items()},
        "speedup_vs_fp32_cpu": {k: round(cpu_med["fp32"] / v, 2) for k, v in cpu_med.items()},
        "steps_ms": {k: [round(t, 1) for t in v] for k, v in times.items()},
    }
    log(
        f"{model_name:<13} "
        + "  ".join(
            f"{k} {med[k]:.1f}|{low[k]:.1f} ms ({out['speedup_vs_fp32_median'][k]:.2f}x|"
            f"{out['speedup_vs_fp32_min'][k]:.2f}x)"
            for k in med
        )
        + "   [wall median|min per step]"
    )
    log(
        " " * 14
        + "  ".join(f"{k} {cpu_med[k]:.1f} ms ({out['speedup_vs_fp32_cpu'][k]:.2f}x)" for k in cpu_med)
        + "   [process CPU time per step, median]"
    )
    return out


def cpu_flags() -> dict:
    from dive.precision import cpu_bf16_support

    return {
        "amx_tile": bool(torch.cpu._is_amx_tile_supported()),
        "avx512_bf16": bool(torch.cpu._is_avx512_bf16_supported()),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "bf16_fast": cpu_bf16_support()[0],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.precision_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="also torch.compile the fastest eager setting")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--out", default=str(REPO_ROOT / "reports" / "precision_probe.json"))
    args = p.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        p.error("--rounds and --steps must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    flags = cpu_flags()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; cpu {flags}; load average {os.getloadavg()}")
    results = [probe(m, args.rounds, args.steps, args.compile) for m in args.models]
    report = {
        "cpu": flags,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average_after": os.getloadavg(),
        "results": results,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
