"""Case (i) of ``make bench``: the C allocator's settings (:mod:`dive.allocator`) against glibc's defaults.

    python -m benchmarks.throughput --cases i [--data-root DIR --flag breastmnist] [--rounds 3] [--threads 2]

The same training run, twice per round: in a fresh process with ``$DIVE_MALLOC=system`` (glibc's defaults, the
baseline) and with ``keep`` (dive's default: freed memory kept for the next step), in a rotated order so both see
the same background load. A run is quick's shape of a model (:data:`MODELS`: AlexNet at 32 px, batch 32, one
epoch; ResNet18 at 32 px, batch 64, three; Adam 3e-4, fp32 as ``"auto"`` picks it there): a fixed number of epochs,
so both sides do the same work and stop by the same rule; the process's clock covers the training and the
validation scoring, not its start-up. Reported per model: the median wall time of each side and their ratio (with
every round's), the minor page faults and system time, the peak resident memory of each side, and whether every run
ended with the same weights (it must: only where the memory comes from changes).

Verdict per model: **met** when the median ratio (system / keep) is at least :data:`SPEED_TARGET` (not slower),
every run's weights are identical, and the peak memory ratio (keep / system) is at most :data:`MEMORY_TARGET`.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: (model, image side, batch size, epochs): quick's AlexNets (notebooks 04-06) and ResNet18s (03, 07); the ResNet's
#: epochs are short (a 546-image BreastMNIST epoch: under 2 s), so it trains three.
MODELS = (("alexnet", 32, 32, 1), ("resnet18", 32, 64, 3))
SPEED_TARGET = 1.0
MEMORY_TARGET = 1.25


@dataclass
class Options:
    data_root: Path
    flag: str
    train_size: int = 1024
    rounds: int = 3
    threads: int | None = None
    models: tuple = MODELS


def child(argv: list[str]) -> None:
    """In a fresh process: one run, then one JSON line with its clock, CPU, page faults, memory and weights."""
    root, flag, model, size, batch, epochs, train_size, threads = argv
    import torch

    if threads != "0":
        torch.set_num_threads(int(threads))
    from dive import data as D
    from dive import experiment

    bundle = D.load(flag, root, split="official")
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    r = experiment.run(
        bundle, model, image_size=int(size), batch_size=int(batch), epochs=int(epochs), optimizer="adam", lr=3e-4,
        train_size=min(int(train_size), len(bundle.train)), device="cpu", quiet=True, seed=22, precision="fp32",
    )  # fmt: skip
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    h = hashlib.sha256()
    for v in r.model.state_dict().values():
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    print(
        json.dumps(
            {
                "wall_s": round(wall, 3),
                "user_s": round(r1.ru_utime - r0.ru_utime, 3),
                "sys_s": round(r1.ru_stime - r0.ru_stime, 3),
                "minor_faults": r1.ru_minflt - r0.ru_minflt,
                "peak_rss_mb": round(r1.ru_maxrss / 1024, 1),
                "weights_sha256": h.hexdigest(),
                "val_acc": r.val["accuracy"],
            }
        )
    )


def _one(opts: Options, mode: str, model: str, size: int, batch: int, epochs: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")}
    env["DIVE_MALLOC"] = mode
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    args = [opts.data_root, opts.flag, model, size, batch, epochs, opts.train_size, opts.threads or 0]
    p = subprocess.run(
        [sys.executable, "-m", "benchmarks.allocator", "--child", *map(str, args)],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT,
    )  # fmt: skip
    if p.returncode != 0:
        raise RuntimeError(f"case (i), {model} with DIVE_MALLOC={mode} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_case(opts: Options, log=print) -> dict:
    from dive import allocator
    from dive.data import is_synthetic_root

    if allocator._libc() is None:
        raise SystemExit("case (i) compares glibc malloc's settings: this process does not run on glibc")
    synthetic = is_synthetic_root(opts.data_root)
    log(
        f"case (i) on {'SYNTHETIC ' if synthetic else ''}{opts.flag} ({opts.data_root}), {opts.train_size} training "
        f"images at most, {opts.rounds} round(s), fresh process per run"
    )
    started = time.perf_counter()
    models = []
    for model, size, batch, epochs in opts.models:
        runs: dict[str, list[dict]] = {"system": [], "keep": []}
        for i in range(opts.rounds):
            order = ("system", "keep") if i % 2 == 0 else ("keep", "system")
            for mode in order:
                runs[mode].append(_one(opts, mode, model, size, batch, epochs))
            log(
                f"  {model} {size} px round {i + 1}: system {runs['system'][-1]['wall_s']:.2f} s, keep "
                f"{runs['keep'][-1]['wall_s']:.2f} s"
            )
        models.append({**summarise(model, size, batch, runs), "epochs": epochs})
    return {
        "kind": "allocator",
        "case": "i_allocator",
        "flag": opts.flag,
        "synthetic": synthetic,
        "train_size": opts.train_size,
        "rounds": opts.rounds,
        "threads": opts.threads,
        "models": models,
        "seconds": round(time.perf_counter() - started, 1),
        "speed_target": SPEED_TARGET,
        "memory_target": MEMORY_TARGET,
    }


def summarise(model: str, size: int, batch: int, runs: dict[str, list[dict]]) -> dict:
    """One model's two sides: medians, per-round ratios, identical weights, verdict."""

    def med(mode, key):
        return statistics.median(r[key] for r in runs[mode])

    by_round = [s["wall_s"] / k["wall_s"] for s, k in zip(runs["system"], runs["keep"], strict=True)]
    speed = med("system", "wall_s") / med("keep", "wall_s")
    memory = max(r["peak_rss_mb"] for r in runs["keep"]) / max(r["peak_rss_mb"] for r in runs["system"])
    same = len({r["weights_sha256"] for rs in runs.values() for r in rs}) == 1
    met = speed >= SPEED_TARGET and same and memory <= MEMORY_TARGET
    return {
        "model": model,
        "image_size": size,
        "batch_size": batch,
        "runs": runs,
        "median_wall_s": {m: med(m, "wall_s") for m in runs},
        "median_sys_s": {m: med(m, "sys_s") for m in runs},
        "median_minor_faults": {m: med(m, "minor_faults") for m in runs},
        "peak_rss_mb": {m: max(r["peak_rss_mb"] for r in runs[m]) for m in runs},
        "speedup": round(speed, 3),
        "speedup_by_round": [round(x, 3) for x in by_round],
        "memory_ratio": round(memory, 3),
        "identical_weights": same,
        "verdict": "met" if met else "not met",
    }


def format_case(c: dict) -> str:
    lines = [
        f"(i) the C allocator on {'SYNTHETIC ' if c['synthetic'] else ''}{c['flag']}: glibc's defaults "
        f"(DIVE_MALLOC=system) against dive's (keep), {c['rounds']} rounds"
    ]
    for m in c["models"]:
        w, f, s, rss = m["median_wall_s"], m["median_minor_faults"], m["median_sys_s"], m["peak_rss_mb"]
        lines.append(
            f"  {m['model']} {m['image_size']} px, batch {m['batch_size']}, {m['epochs']} epoch(s): "
            f"{w['system']:.2f} s -> {w['keep']:.2f} s, "
            f"{m['speedup']:.2f}x (rounds {', '.join(f'{x:.2f}' for x in m['speedup_by_round'])}); page faults "
            f"{f['system']:,} -> {f['keep']:,}; system time {s['system']:.2f} -> {s['keep']:.2f} s; peak memory "
            f"{rss['system']:.0f} -> {rss['keep']:.0f} MB ({m['memory_ratio']:.2f}x); weights "
            f"{'identical' if m['identical_weights'] else 'DIFFERENT'}: {m['verdict']} (target: >= "
            f"{c['speed_target']:.1f}x, the same weights, memory <= {c['memory_target']:.2f}x)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        raise SystemExit("run it through `python -m benchmarks.throughput --cases i`")
