"""Would a different stopping rule let every seed of case (h)'s dive recipe reach the published accuracy?

    python -m benchmarks.recipe_probe --target-flag breastmnist --seeds 0 1 2 3 4 5 6 7 --epochs 40 \
        [--set lr=0.0003 scheduler=plateau] [--patience 5 10 none] [--threads 1] [--out trajectories.json]

Trains :data:`dive.recipes.TIME_TO_TARGET_RECIPE` (with ``--set`` changes) per seed for ``--epochs`` epochs
*without* early stopping, scoring validation and test after every epoch; then replays, on those per-epoch records,
the recipe's early stopping (:class:`dive.train.EarlyStopping`, on the validation AUC, for each ``--patience`` and
maximum number of epochs) and case (h)'s rule (:func:`benchmarks.time_to_target.apply_rule`). The replay is exact
when nothing in training depends on the patience or the epoch budget (no scheduler, or ``plateau``, which watches
validation only): early stopping only cuts a run short. Per recipe it prints the mean best validation AUC, the only
figure to choose a recipe by (the honest way: test unseen), and, separately, how many seeds reached the target and
their honest (own rule) test scores: the outcome, not a criterion. Issue 28, results in benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import time_to_target as TT  # noqa: E402


def trajectory(data, seed: int, epochs: int, overrides: dict, device: str = "cpu") -> list[dict]:
    """Per epoch of one seed: ``{"epoch", "val_auc", "test_acc", "test_auc", "seconds", "clock_s"}`` (the clock
    counts the test scoring of every epoch, which case (h) would only do when the validation AUC improved)."""
    from dive import experiment as E
    from dive import metrics as M
    from dive import recipes
    from dive.batches import Batches

    model_name, settings = recipes.time_to_target_recipe()
    settings = {**settings, **overrides, "epochs": epochs, "patience": None, "restore_best": False}
    config, _ = E.config_for(data, model_name, **settings, seed=seed)
    rows: list[dict] = []
    state: dict = {}
    t0 = time.perf_counter()

    def callback(epoch, record, model):
        if "pre" not in state:
            state["pre"] = E.preprocess_for(config, data, model.spec)
        y, p = M.predict(model, Batches(data.test, 512, state["pre"], device=torch.device(device)), multilabel=False)
        m = M.evaluate(y, p, data.task, data.classes)
        rows.append(
            {
                "epoch": epoch,
                "val_auc": float(record["val_auc"]),
                "test_acc": float(m["accuracy"]),
                "test_auc": float(m["auc"]),
                "seconds": float(record["seconds"]),
                "clock_s": time.perf_counter() - t0,
            }
        )

    E.run(data, config, checkpoints=False, evaluate_test=False, quiet=True, device=device, callbacks=[callback])
    return rows


def replay(rows: list[dict], published: dict, patience: int | None, max_epochs: int) -> dict:
    """The recipe's own stopping (:class:`dive.train.EarlyStopping` on the validation AUC, at most ``max_epochs``)
    and case (h)'s rule on one seed's per-epoch records: ``{"stopped_at", "best_epoch", "best_val_auc", "honest":
    {test_acc, test_auc} of the best-val epoch, "reached", "reached_epoch"}``; reaching counts only up to the stop."""
    from dive.train import EarlyStopping

    early = EarlyStopping(patience)
    no_weights = SimpleNamespace(state_dict=dict)  # only the scores matter here
    seen = []
    for r in rows[:max_epochs]:
        seen.append(r)
        if early.step(r["val_auc"], r["epoch"], no_weights):
            break
    best = next(r for r in seen if r["epoch"] == early.best_epoch)
    epochs = [TT.Epoch(r["epoch"], r["clock_s"], r["val_auc"], r["test_acc"], r["test_auc"]) for r in seen]
    rule = TT.apply_rule(epochs, published)
    return {
        "stopped_at": seen[-1]["epoch"],
        "best_epoch": best["epoch"],
        "best_val_auc": best["val_auc"],
        "honest": {"test_acc": best["test_acc"], "test_auc": best["test_auc"]},
        "reached": rule["reached"],
        "reached_epoch": rule["epoch"] if rule["reached"] else None,
    }


def summary(trajectories: dict, published: dict, patience: int | None, max_epochs: int) -> dict:
    per_seed = {s: replay(rows, published, patience, max_epochs) for s, rows in trajectories.items()}
    return {
        "patience": patience,
        "max_epochs": max_epochs,
        "mean_best_val_auc": statistics.mean(r["best_val_auc"] for r in per_seed.values()),
        "reached": sorted((s for s, r in per_seed.items() if r["reached"]), key=int),
        "honest_mean": {
            k: statistics.mean(r["honest"][k] for r in per_seed.values()) for k in ("test_acc", "test_auc")
        },
        "per_seed": per_seed,
    }


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.recipe_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--target-flag", default="breastmnist", help="real MedMNIST file (default breastmnist)")
    p.add_argument("--data-root", default=None, help="root holding medmnist/<flag>.npz (default $DIVE_DATA)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    p.add_argument("--epochs", type=int, default=40, help="epochs trained per seed, no early stopping (default 40)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="changes to the recipe (JSON values)")
    p.add_argument(
        "--patience",
        nargs="+",
        default=["5", "10", "none"],
        help="early-stopping patiences to replay (default 5 10 none)",
    )
    p.add_argument(
        "--max-epochs", type=int, nargs="+", default=None, help="epoch budgets to replay (default 30 and --epochs)"
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="JSON with the per-epoch records and the replays")
    args = p.parse_args(argv)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    overrides = {k: _value(v) for k, v in overrides.items()}
    patiences = [None if x.lower() == "none" else int(x) for x in args.patience]
    budgets = sorted(set(args.max_epochs or [min(30, args.epochs), args.epochs]))
    opts = TT.Options(flag=args.target_flag, data_root=args.data_root)
    flag, root, published, synthetic = TT.check_options(opts)  # a missing file fails here, before any work
    if synthetic:
        raise SystemExit(f"{root} is a synthetic root: the published values are the real file's")
    if args.threads:
        torch.set_num_threads(args.threads)
    from dive import data as D

    data = D.load(flag, root, split="official")
    trajectories = {}
    for seed in args.seeds:
        trajectories[str(seed)] = trajectory(data, seed, args.epochs, overrides)
        rows = trajectories[str(seed)]
        print(f"seed {seed}: val AUC by epoch " + " ".join(f"{r['val_auc']:.3f}" for r in rows), flush=True)
    summaries = [summary(trajectories, published, pat, e) for pat in patiences for e in budgets]
    print(f"{flag}, recipe changes {overrides or 'none'}; published ACC {published['acc']} / AUC {published['auc']}")
    for s in summaries:
        print(
            f"  patience {s['patience']}, at most {s['max_epochs']} epochs: mean best val AUC "
            f"{s['mean_best_val_auc']:.4f}; reached {len(s['reached'])}/{len(trajectories)} (seeds "
            f"{' '.join(s['reached']) or '-'}); honest test mean ACC {s['honest_mean']['test_acc']:.3f} / AUC "
            f"{s['honest_mean']['test_auc']:.3f}"
        )
    if args.out:
        out = {"flag": flag, "overrides": overrides, "published": published, "threads": torch.get_num_threads()}
        out |= {"trajectories": trajectories, "summaries": summaries}
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
