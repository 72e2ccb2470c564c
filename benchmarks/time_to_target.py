"""Case (h) of ``make bench``: time to the published accuracy, measured as MLPerf Training measures time-to-train.

    python -m benchmarks.throughput --cases h [--flag pneumoniamnist] [--data-root DIR] [--seeds 3] [--official-cap K]

Two sides, the same rule (:data:`RULE`), the same machine and run, interleaved seed by seed:

* **official**: a re-implementation, written from its description, of MedMNIST's
  ``experiments/MedMNIST2D/train_and_eval_pytorch.py``: ResNet-18 in MedMNIST's 28-px variant (3x3 stride-1 first
  convolution, no max-pool; :class:`ResNet18_28`), medmnist's ``Dataset`` class + ``ToTensor`` + ``Normalize(0.5,
  0.5)`` behind a ``DataLoader`` of 128 (shuffled for training), Adam lr 1e-3, learning rate x0.1 at epochs 50 and
  75 of 100, cross-entropy, and train, validation and test scored with medmnist's ``Evaluator`` after every epoch;
  the model with the best validation AUC is kept.
* **dive**: :func:`dive.recipes.time_to_target_recipe` through :func:`dive.experiment.run`; its own stopping rule
  (early stopping on validation AUC) ends the run, and the test split is scored only when the validation AUC
  improved (the best-val checkpoint's test score does not change otherwise).

The clock of a run starts before its data are read and includes every evaluation. The run that the rule stops is
also the dive recipe's *honest* run: it continues to its own stopping rule (which never looks at test) and its final
test ACC/AUC, over the seeds, give the honest row (mean, 95 % t interval, one-sample t-test against the published
values with ``scipy.stats.ttest_1samp``: dive.stats has no one-sample test). The clock reading at the reaching
epoch is unaffected by what the run does afterwards.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

RULE = (
    "after each epoch the checkpoint with the best validation AUC so far is scored on test; the clock (data loading, "
    "training and every evaluation) stops at the first epoch where its test ACC and AUC both reach the published "
    "MedMNIST v2 ResNet-18 (28) values (at their three decimals)"
)
OFFICIAL_EPOCHS = 100  # MedMNIST's prescribed schedule
OFFICIAL_BATCH = 128
OFFICIAL_LR = 1e-3
QUICK_DIVE = {"train_size": 256, "val_size": 128, "epochs": 2}  # --quick: tests only (not a measurement)


# --------------------------------------------------------------------------------------------- the rule
@dataclass
class Epoch:
    """One epoch of a run: the clock at its end (every evaluation included), the validation AUC of the epoch's
    model and, where it was scored, its test ACC/AUC (``None`` when the epoch did not improve on the best
    validation AUC and was therefore not needed)."""

    epoch: int
    clock_s: float
    val_auc: float
    test_acc: float | None = None
    test_auc: float | None = None


def reaches(acc: float, auc: float, published: dict) -> bool:
    """Both metrics of one checkpoint at or above the published values at their decimals (MLPerf's per-run
    quality target; an undefined AUC never reaches). This is the stopping rule of one run, not a verdict about
    a recipe: that is the honest row's one-sample test over seeds."""
    from dive import medmnist_compare

    values = (acc, auc)
    if any(v is None or math.isnan(float(v)) for v in values):
        return False
    return all(
        round(float(v), medmnist_compare.DECIMALS) >= published[k] for v, k in zip(values, ("acc", "auc"), strict=True)
    )


class Rule:
    """The stopping rule, fed one epoch at a time: :meth:`update` returns True at the first epoch where the
    checkpoint with the best validation AUC so far (strictly greater than every earlier one) reaches the target."""

    def __init__(self, published: dict):
        self.published = published
        self.best: Epoch | None = None
        self.reached_at: Epoch | None = None
        self.last: Epoch | None = None

    def improves(self, val_auc: float) -> bool:
        return self.best is None or val_auc > self.best.val_auc

    def update(self, e: Epoch) -> bool:
        if self.reached_at is not None:
            raise RuntimeError("the rule already stopped the clock")
        self.last = e
        if self.improves(e.val_auc):
            if e.test_acc is None or e.test_auc is None:
                raise ValueError(f"epoch {e.epoch} improved the validation AUC but its test score is missing")
            self.best = e
        if reaches(self.best.test_acc, self.best.test_auc, self.published):
            self.reached_at = e
            return True
        return False

    def result(self) -> dict:
        """``{"reached", "seconds", "epoch", "checkpoint_epoch", "test_acc", "test_auc", "epochs_run"}``; a run not
        reached has ``seconds`` = the clock at its last epoch (a lower bound of its time to target)."""
        e = self.reached_at or self.last
        if e is None:
            return {"reached": False, "seconds": None, "epoch": None, "epochs_run": 0}
        b = self.best
        return {
            "reached": self.reached_at is not None,
            "seconds": e.clock_s,
            "epoch": e.epoch,
            "epochs_run": self.last.epoch,
            "checkpoint_epoch": b.epoch,
            "test_acc": b.test_acc,
            "test_auc": b.test_auc,
        }


def apply_rule(epochs, published: dict) -> dict:
    """:class:`Rule` over a finished list of :class:`Epoch` (stops reading at the reaching epoch)."""
    rule = Rule(published)
    for e in epochs:
        if rule.update(e):
            break
    return rule.result()


# ----------------------------------------------------------------------------------------- arithmetic
def median_time(runs: list[dict]) -> dict:
    """Median seconds to target over seeds. A seed that did not reach counts as infinitely slow; when the median
    falls on such seeds, the median of the clocks they stopped at is a lower bound (``bound: ">="``)."""
    if not runs:
        raise ValueError("median_time: no runs")
    exact = statistics.median([r["seconds"] if r["reached"] else math.inf for r in runs])
    reached = sum(bool(r["reached"]) for r in runs)
    if math.isfinite(exact):
        return {"median_s": exact, "bound": "=", "reached": reached, "n": len(runs)}
    return {
        "median_s": statistics.median(r["seconds"] for r in runs),
        "bound": ">=",
        "reached": reached,
        "n": len(runs),
    }


def ratio_of_medians(official: dict, dive: dict) -> dict:
    """official median / dive median with its direction: ``"="`` when both are measured, ``">="`` when the
    official one is a lower bound, ``"<="`` when dive's is, ``None`` (no ratio) when both are bounds."""
    o, d = official["median_s"], dive["median_s"]
    bounds = (official["bound"], dive["bound"])
    if bounds == (">=", ">="):
        return {"ratio": None, "bound": None}
    ratio = o / d
    return {"ratio": ratio, "bound": {("=", "="): "=", (">=", "="): ">=", ("=", ">="): "<="}[bounds]}


def one_sample(values, published: float, confidence: float = 0.95) -> dict:
    """Mean with its t interval (dive.stats.summarize) and a two-sided one-sample t-test against ``published``
    (scipy.stats.ttest_1samp). The verdict follows the interval: wholly above -> "above the published", wholly
    below -> "below the published", else "cannot tell"."""
    from scipy import stats as S

    from dive import stats as DS

    a = np.asarray(list(values), dtype=float)
    s = DS.summarize(a, confidence=confidence)
    if s.ci_low is None or not np.isfinite(s.ci_low):
        return {"mean": s.mean, "ci": None, "p": None, "n": s.n, "verdict": "cannot tell (fewer than 2 seeds)"}
    p = float(S.ttest_1samp(a, published).pvalue)
    p = None if not np.isfinite(p) else p  # identical values: no test
    if s.ci_low > published:
        v = "above the published"
    elif s.ci_high < published:
        v = "below the published"
    else:
        v = "cannot tell"
    return {"mean": s.mean, "ci": [s.ci_low, s.ci_high], "p": p, "n": s.n, "verdict": v}


def honest_row(finals: list[dict], published: dict) -> dict:
    acc = one_sample([f["test_acc"] for f in finals], published["acc"])
    auc = one_sample([f["test_auc"] for f in finals], published["auc"])
    if acc["verdict"] == auc["verdict"] == "above the published":
        v = "above the published (both metrics)"
    elif "below the published" in (acc["verdict"], auc["verdict"]):
        v = "below the published in " + " and ".join(
            m for m, r in (("ACC", acc), ("AUC", auc)) if r["verdict"] == "below the published"
        )
    else:
        v = "cannot tell"
    return {"test_acc": acc, "test_auc": auc, "verdict": v, "test": "one-sample t (scipy.stats.ttest_1samp), 95 %"}


# -------------------------------------------------------------------------- the official protocol (baseline)
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18_28(nn.Module):
    """MedMNIST's ResNet-18 for 28-px inputs: 3x3 stride-1 first convolution, no max-pool, [2, 2, 2, 2] blocks."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._layer(64, 1)
        self.layer2 = self._layer(128, 2)
        self.layer3 = self._layer(256, 2)
        self.layer4 = self._layer(512, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear = nn.Linear(512, num_classes)

    def _layer(self, planes: int, stride: int) -> nn.Sequential:
        blocks = []
        for s in (stride, 1):
            blocks.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(self.avgpool(out), 1))


def _official_test(model, evaluator, loader, multilabel: bool, device):
    model.eval()
    scores = []
    with torch.no_grad():
        for x, _ in loader:
            out = model(x.to(device))
            scores.append((torch.sigmoid(out) if multilabel else F.softmax(out, dim=1)).cpu())
    auc, acc = evaluator.evaluate(torch.cat(scores).numpy())
    return float(auc), float(acc)


def _official_dataset(cls, split: str, transform, root: Path, synthetic: bool):
    """medmnist's dataset class for one split. medmnist's ``__len__`` asserts the official sample count; a synthetic
    file (dive's SYNTHETIC marker, timing only) may be smaller, so only then is the instance told the file's own
    count (a real file of the wrong size still fails)."""
    ds = cls(split=split, transform=transform, root=str(root), size=28)
    n = len(ds.imgs)
    if synthetic and ds.info["n_samples"][split] != n:
        ds.info = {**ds.info, "n_samples": {**ds.info["n_samples"], split: n}}
    return ds


def run_official(
    flag: str, root: Path, seed: int, published: dict, *, cap: int, device="cpu", log=print, synthetic: bool = False
) -> dict:
    """One seed of the official protocol under :data:`RULE`, stopped at the target or after ``cap`` epochs."""
    import medmnist
    import torch.utils.data as tud
    import torchvision.transforms as T
    from medmnist import INFO, Evaluator

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed)
    info = INFO[flag]
    multilabel = info["task"] == "multi-label, binary-class"
    cls = getattr(medmnist, info["python_class"])
    tf = T.Compose([T.ToTensor(), T.Normalize(mean=[0.5], std=[0.5])])
    ds = {s: _official_dataset(cls, s, tf, root, synthetic) for s in ("train", "val", "test")}
    train_loader = tud.DataLoader(ds["train"], batch_size=OFFICIAL_BATCH, shuffle=True)
    loaders = {s: tud.DataLoader(d, batch_size=OFFICIAL_BATCH, shuffle=False) for s, d in ds.items()}
    evaluators = {s: Evaluator(flag, s, size=28, root=str(root)) for s in ds}
    device = torch.device(device)
    model = ResNet18_28(info["n_channels"], len(info["label"])).to(device)
    criterion = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=OFFICIAL_LR)
    sched = torch.optim.lr_scheduler.MultiStepLR(
        opt, milestones=[int(0.5 * OFFICIAL_EPOCHS), int(0.75 * OFFICIAL_EPOCHS)], gamma=0.1
    )
    rule = Rule(published)
    epoch_s = []
    best_model = None
    for epoch in range(1, cap + 1):
        te = time.perf_counter()
        model.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            out = model(x)
            y = y.float() if multilabel else torch.squeeze(y, 1).long()
            criterion(out, y).backward()
            opt.step()
        scores = {
            s: _official_test(model, evaluators[s], loaders[s], multilabel, device) for s in ("train", "val", "test")
        }
        sched.step()
        val_auc = scores["val"][0]
        if rule.improves(val_auc):
            best_model = copy.deepcopy(model)  # the script keeps the best-val model
        clock = time.perf_counter() - t0
        epoch_s.append(time.perf_counter() - te)
        test_auc, test_acc = scores["test"]
        done = rule.update(Epoch(epoch, clock, val_auc, test_acc, test_auc))
        log(
            f"  official seed {seed} epoch {epoch}: val AUC {val_auc:.3f}, test ACC/AUC {test_acc:.3f}/{test_auc:.3f}"
            f", best-val checkpoint (epoch {rule.best.epoch}) {rule.best.test_acc:.3f}/{rule.best.test_auc:.3f}, "
            f"clock {clock:.0f} s"
        )
        if done:
            break
    del best_model
    return {**rule.result(), "seed": seed, "cap": cap, "epoch_seconds": epoch_s}


# ------------------------------------------------------------------------------------------------ dive
def run_dive(flag: str, data_root: Path, seed: int, published: dict, *, device="cpu", log=print, **overrides) -> dict:
    """One seed of dive's recipe (:func:`dive.recipes.time_to_target_recipe`) under :data:`RULE`; the run goes
    on to its own stopping rule, whose final test score is returned as ``final`` (the honest row)."""
    from dive import data as D
    from dive import experiment as E
    from dive import metrics as M
    from dive import recipes
    from dive.batches import Batches

    t0 = time.perf_counter()
    data = D.load(flag, data_root, split="official")
    model_name, settings = recipes.time_to_target_recipe()
    settings = {**settings, **overrides}
    config, _ = E.config_for(data, model_name, **settings, seed=seed)
    rule = Rule(published)
    state: dict = {"pre": None, "split": {}}

    def score_test(model):
        if state["pre"] is None:
            state["pre"] = E.preprocess_for(config, data, model.spec)
        b = Batches(data.test, 512, state["pre"], device=torch.device(device))
        y, p = M.predict(model, b, multilabel=data.train.multilabel)
        m = M.evaluate(y, p, data.task, data.classes)
        return float(m["accuracy"]), float(m["auc"])

    def callback(epoch, record, model):
        if rule.reached_at is not None:
            return  # the clock has stopped; the run goes on to its own rule, test unseen
        val_auc = record["val_auc"]
        acc = auc = None
        if rule.improves(val_auc):
            acc, auc = score_test(model)
        clock = time.perf_counter() - t0
        done = rule.update(Epoch(epoch, clock, val_auc, acc, auc))
        state["split"] = {"epoch": epoch, "clock": clock}
        log(
            f"  dive     seed {seed} epoch {epoch}: val AUC {val_auc:.3f}, best-val checkpoint (epoch "
            f"{rule.best.epoch}) {rule.best.test_acc:.3f}/{rule.best.test_auc:.3f}, clock {clock:.1f} s"
            + ("  <- target reached" if done else "")
        )

    r = E.run(data, config, checkpoints=False, evaluate_test=True, quiet=True, device=device, callbacks=[callback])
    total = time.perf_counter() - t0
    hist = r.fit.history
    train_s = sum(h["seconds"] for h in hist)
    return {
        **rule.result(),
        "seed": seed,
        "final": {
            "test_acc": float(r.test["accuracy"]),
            "test_auc": float(r.test["auc"]),
            "epochs_run": len(hist),
            "best_epoch": r.fit.best_epoch,
            "seconds": total,
        },
        "epoch_seconds": [h["seconds"] for h in hist],
        "train_and_val_s": train_s,
    }


# ------------------------------------------------------------------------------------------------ case
@dataclass
class Options:
    flag: str = "pneumoniamnist"
    data_root: str | None = None
    seeds: int = 3
    official_cap: int = OFFICIAL_EPOCHS
    dive_overrides: dict = field(default_factory=dict)
    device: str = "cpu"


def check_options(opts: Options) -> tuple[str, Path, dict, bool]:
    """``(flag, data_root, published, synthetic)`` of case (h), or ``SystemExit`` with a clear message before any
    work: an unknown flag, mnist (no published ResNet-18 (28) values), a flag without published values, a
    non-positive cap or seed count, or a data file that is not there. ``synthetic``: the root carries dive's
    SYNTHETIC marker (timing only: the published values are the real file's)."""
    from dive import data as D
    from dive import medmnist_compare

    try:
        flag = D.check_name(opts.flag)
    except ValueError as err:
        raise SystemExit(f"case (h), --target-flag: {err}") from None
    if flag == "mnist":
        raise SystemExit("case (h) needs a MedMNIST flag with published ResNet-18 (28) values, not mnist")
    if opts.official_cap < 1 or opts.seeds < 1:
        raise SystemExit("--official-cap and --seeds must be positive")
    try:
        published = medmnist_compare.published(flag)
    except KeyError as err:
        raise SystemExit(f"case (h): {err.args[0]}") from None
    data_root = Path(opts.data_root or D.default_root()).expanduser()
    npz = data_root / "medmnist" / f"{flag}.npz"
    if not npz.is_file():
        raise SystemExit(
            f"case (h) needs the {flag} file: {npz} not found (set --data-root or DIVE_DATA to the root holding "
            f"medmnist/{flag}.npz)"
        )
    return flag, data_root, published, D.is_synthetic_root(data_root)


def run_case(opts: Options, log=print) -> dict:
    from dive import recipes

    flag, data_root, published, synthetic = check_options(opts)
    if synthetic:
        log(
            f"case (h) on SYNTHETIC {flag} ({data_root} carries dive's SYNTHETIC marker): timing only; the published "
            "values are the real file's, so no time-to-target verdict is drawn"
        )
    model_name, settings = recipes.time_to_target_recipe()
    settings = {**settings, **opts.dive_overrides}
    log(f"case (h) on {flag}: {RULE}; published ACC {published['acc']:.3f} / AUC {published['auc']:.3f}")
    log(f"  dive recipe: {model_name} {settings}")
    official, dive = [], []
    started = time.perf_counter()
    for i in range(opts.seeds):
        seed = i
        order = ("official", "dive") if i % 2 == 0 else ("dive", "official")  # interleaved, alternating
        for side in order:
            if side == "official":
                official.append(
                    run_official(
                        flag,
                        data_root / "medmnist",
                        seed,
                        published,
                        cap=opts.official_cap,
                        device=opts.device,
                        log=log,
                        synthetic=synthetic,
                    )
                )
            else:
                dive.append(
                    run_dive(flag, data_root, seed, published, device=opts.device, log=log, **opts.dive_overrides)
                )
    return summarise_case(
        flag, published, official, dive, model_name, settings, opts.official_cap, started, synthetic=synthetic
    )


def target_status(ratio: float, bound: str, all_reached: bool, target: float = 10.0) -> str:
    """ "meets" / "misses" / "cannot tell whether it meets" the target ratio, with every dive seed reaching."""
    if not all_reached:
        return "misses"
    if ratio >= target and bound in ("=", ">="):
        return "meets"
    if ratio < target and bound in ("=", "<="):
        return "misses"
    return "cannot tell whether it meets"


def _side(runs: list[dict]) -> dict:
    m = median_time(runs)
    secs = [r["seconds"] for r in runs]
    return {
        "seconds": secs,
        "reached_by_seed": [bool(r["reached"]) for r in runs],
        "epochs": [r["epoch"] for r in runs],
        "median_s": m["median_s"],
        "median_bound": m["bound"],
        "range_s": [min(secs), max(secs)],
        "reached": m["reached"],
        "n": m["n"],
    }


def summarise_case(
    flag, published, official, dive, model_name, settings, cap, started=None, *, synthetic=False
) -> dict:
    """Case (h)'s record. ``synthetic``: the data were dive's synthetic files (timing only): the verdicts say so
    instead of comparing with the published values, which belong to the real file."""
    o, d = _side(official), _side(dive)
    r = ratio_of_medians(
        {"median_s": o["median_s"], "bound": o["median_bound"]}, {"median_s": d["median_s"], "bound": d["median_bound"]}
    )
    epoch_s = [s for run in official for s in run["epoch_seconds"]]
    prescribed = OFFICIAL_EPOCHS * min(epoch_s)
    measured_100 = all(len(run["epoch_seconds"]) >= OFFICIAL_EPOCHS for run in official)
    honest = honest_row([x["final"] for x in dive], published)
    ratio, bound = r["ratio"], r["bound"]
    all_reached = d["reached"] == d["n"]
    if ratio is None:
        verdict = "no ratio: neither side's median reached the target"
    else:
        verdict = (
            f"time to target: official / dive {bound if bound != '=' else ''}{ratio:.1f}x "
            f"({target_status(ratio, bound, all_reached)} the 10x target"
            + ("" if all_reached else f"; dive reached in {d['reached']} of {d['n']} seeds")
            + ")"
        )
    if synthetic:
        verdict = (
            "SYNTHETIC data: timing only (seconds per epoch and per run of both sides); the published values belong "
            "to the real file, so no time-to-target verdict"
        )
    dive_total = sum(x["final"]["seconds"] for x in dive)
    dive_train = sum(x["train_and_val_s"] for x in dive)
    return {
        "name": f"h_time_to_target_{flag}",
        "kind": "time_to_target",
        "flag": flag,
        "rule": RULE,
        "published_acc": published["acc"],
        "published_auc": published["auc"],
        "official": {
            **o,
            "recipe": "MedMNIST train_and_eval_pytorch.py re-implemented: ResNet-18 (28) 3x3 stride-1 stem, "
            "no max-pool;"
            " medmnist Dataset + ToTensor + Normalize(0.5, 0.5); DataLoader 128; Adam 1e-3, x0.1 at epochs 50 and 75"
            f"; train/val/test evaluated every epoch; epoch cap {cap}",
            "cap": cap,
            "median_epoch_s": statistics.median(epoch_s),
        },
        "dive": {
            **d,
            "recipe": {"model": model_name, **{k: v for k, v in settings.items()}},
            "median_epoch_s": statistics.median(s for run in dive for s in run["epoch_seconds"]),
            "where_time_goes": {
                "train_and_val_s": dive_train,
                "load_test_and_rest_s": dive_total - dive_train,
            },
        },
        "ratio": ratio,
        "ratio_bound": bound,
        "prescribed_s": prescribed,
        "prescribed_label": (
            "measured: the official protocol's 100 prescribed epochs"
            if measured_100
            else f"estimate, not measured: 100 x the fastest measured official epoch ({min(epoch_s):.0f} s)"
        ),
        "ratio_prescribed": prescribed / d["median_s"],
        "ratio_prescribed_bound": "=" if d["median_bound"] == "=" else "<=",
        "ratio_prescribed_label": "for information only: the prescribed 100 epochs against dive's time to target",
        "honest": {
            "rule": "dive's recipe to its own stopping rule (early stopping on validation AUC, best-val weights "
            "restored), test unseen by the rule",
            "test_acc": honest["test_acc"],
            "test_auc": honest["test_auc"],
            "verdict": "SYNTHETIC data: no verdict" if synthetic else honest["verdict"],
            "test": honest["test"],
            "per_seed": [x["final"] for x in dive],
        },
        "verdict": verdict,
        "seconds_total": None if started is None else time.perf_counter() - started,
        "synthetic": bool(synthetic),
    }


def _fmt_side(s: dict) -> str:
    per = ", ".join(
        f"{t:.0f}" + ("" if ok else f" (not reached by epoch {e})")
        for t, ok, e in zip(s["seconds"], s["reached_by_seed"], s["epochs"], strict=True)
    )
    b = "" if s["median_bound"] == "=" else ">= "
    lo, hi = s["range_s"]
    return f"median {b}{s['median_s']:.0f} s, range {lo:.0f}-{hi:.0f} s, reached {s['reached']}/{s['n']} [{per}]"


def format_case(c: dict) -> str:
    h = c["honest"]

    def m(x):
        ci = "" if x["ci"] is None else f" [{x['ci'][0]:.3f}, {x['ci'][1]:.3f}]"
        p = "" if x["p"] is None else f", p={x['p']:.3f}"
        return f"{x['mean']:.3f}{ci}{p} ({x['verdict']})"

    lines = [
        f"(h) time to target on {'SYNTHETIC ' if c.get('synthetic') else ''}{c['flag']} (published ACC "
        f"{c['published_acc']:.3f} / AUC {c['published_auc']:.3f})",
        f"  official median epoch {c['official']['median_epoch_s']:.1f} s, dive median epoch "
        f"{c['dive']['median_epoch_s']:.1f} s",
        f"  official: {_fmt_side(c['official'])}",
        f"  dive:     {_fmt_side(c['dive'])}",
        f"  {c['verdict']}",
        f"  prescribed 100 epochs ({c['prescribed_label']}): {c['prescribed_s']:.0f} s; "
        f"ratio against it {'' if c['ratio_prescribed_bound'] == '=' else '<= '}{c['ratio_prescribed']:.0f}x "
        f"({c['ratio_prescribed_label']})",
        f"  honest row (dive to its own rule): test ACC {m(h['test_acc'])}; test AUC {m(h['test_auc'])}; "
        f"{h['verdict']}",
    ]
    return "\n".join(lines)
