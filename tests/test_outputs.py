"""dive.outputs.Outputs: metrics.json schema, fractions enforced, tables, figures, synthetic marks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from dive.outputs import SYNTHETIC_LINE, Outputs, comparability_notes, load_metrics

TOP_KEYS = {
    "notebook",
    "profile",
    "dataset",
    "synthetic",
    "device",
    "seed",
    "git_commit",
    "seconds",
    "started",
    "finished",
    "notes",
    "tables",
    "figures",
    "runs",
    "groups",
}
RUN_KEYS = {
    "name",
    "seed",
    "group",
    "model",
    "params",
    "fingerprint",
    "epochs_run",
    "best_epoch",
    "kept_epoch",
    "seconds_per_epoch",
    "val",
    "val_majority_rate",
    "val_images",
    "val_loss",
    "test",
    "history",
    "extra",
}
GROUP_KEYS = {"name", "n", "seeds", "runs", "values", "summary"}
METRIC_KEYS = {"accuracy", "precision", "recall", "f1", "auc"}


@dataclass
class FakeFit:
    epochs_run: int = 3
    best_epoch: int | None = 2
    history: list = field(
        default_factory=lambda: [
            {
                "epoch": e,
                "train_loss": 1.0 / e,
                "train_acc": np.float32(0.5 + e / 10),
                "val_loss": 1.1 / e,
                "val_acc": np.float64(0.45 + e / 10),
                "lr": 0.01,
                "seconds": 2.0 * e,
            }
            for e in (1, 2, 3)
        ]
    )


def full_metrics(acc=0.9):
    return {
        "accuracy": np.float64(acc),
        "precision": 0.8,
        "recall": np.float32(0.7),
        "f1": 0.75,
        "auc": 0.95,
        "per_class": {"precision": np.array([0.8, 0.9])},
        "confusion_matrix": np.eye(2, dtype=int),
        "n": np.int64(100),
    }


def make(tmp_path, synthetic=True, dataset="pathmnist", **kw):
    return Outputs(
        tmp_path / "out",
        notebook="04_demo",
        profile="smoke",
        dataset=dataset,
        synthetic=synthetic,
        device="cpu",
        seed=np.int64(22),
        **kw,
    )


def test_metrics_json_schema_and_run(tmp_path):
    out = make(tmp_path, notes=["first note"])
    run = out.add_run(
        "balanced",
        "alexnet",
        {"lr": np.float32(0.01), "epochs": np.int64(3), "path": tmp_path},
        fit=FakeFit(),
        val=full_metrics(0.91),
        test=full_metrics(0.88),
        extra={"members": ("a", "b")},
    )
    out.add_run("no-fit", "resnet18", {}, val={"accuracy": 0.5, "auc": float("nan")})
    out.note("pretrained weights not found: trained from scratch")
    path = out.write()
    assert path == tmp_path / "out" / "metrics.json"
    m = json.loads(path.read_text())
    assert set(m) == TOP_KEYS
    assert m["synthetic"] is True and m["seed"] == 22 and m["dataset"] == "pathmnist" and m["device"] == "cpu"
    assert m["notes"] == ["first note", "pretrained weights not found: trained from scratch"]
    assert isinstance(m["seconds"], float) and m["started"] <= m["finished"]
    r = m["runs"][0]
    assert set(r) == RUN_KEYS and r == json.loads(json.dumps(run))
    assert set(r["val"]) == METRIC_KEYS and set(r["test"]) == METRIC_KEYS
    assert r["val"]["accuracy"] == pytest.approx(0.91) and r["test"]["accuracy"] == pytest.approx(0.88)
    assert r["val_majority_rate"] is None  # these scores do not carry it (dive.metrics.evaluate's do)
    assert r["val_images"] == 100 and isinstance(r["val_images"], int)  # their n, a numpy integer, as a number
    assert (r["epochs_run"], r["best_epoch"]) == (3, 2)
    assert (r["seed"], r["group"], r["fingerprint"]) == (None, "balanced", None)  # no seed given: an unseeded run
    assert r["seconds_per_epoch"] == pytest.approx(4.0)
    assert len(r["history"]) == 3 and r["history"][0]["train_acc"] == pytest.approx(0.6)
    assert r["params"]["lr"] == pytest.approx(0.01) and r["params"]["path"] == str(tmp_path)
    assert r["extra"] == {"members": ["a", "b"]}
    r2 = m["runs"][1]
    assert r2["test"] is None and r2["epochs_run"] is None and r2["history"] == []
    assert r2["val"]["auc"] is None and r2["val"]["f1"] is None  # NaN / missing -> null
    assert load_metrics(tmp_path / "out") == m


def test_git_commit_recorded(tmp_path):
    from dive.utils import git_commit

    m = json.loads(make(tmp_path).write().read_text())
    assert m["git_commit"] == git_commit()


@pytest.mark.parametrize("where", ["val", "test"])
def test_accuracy_must_be_a_fraction(tmp_path, where):
    out = make(tmp_path)
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        out.add_run("pct", "alexnet", {}, **{where: full_metrics(acc=91.2)})
    with pytest.raises(ValueError):
        out.add_run("neg", "alexnet", {}, **{where: {"accuracy": -0.1}})
    assert out.runs == []


def test_history_accuracy_must_be_a_fraction(tmp_path):
    fit = FakeFit()
    fit.history[1]["val_acc"] = 85.0
    with pytest.raises(ValueError, match="val_acc"):
        make(tmp_path).add_run("pct", "alexnet", {}, fit=fit)


def test_table_written_with_synthetic_line(tmp_path):
    out = make(tmp_path)
    df = pd.DataFrame({"balancing": [False, True], "val_acc": [np.float64(0.84), 0.9]})
    orig = pd.DataFrame({"balancing": [False, True], "val_acc": [0.8416, 0.8963]})
    csv = out.table(df, "balancing", caption="AlexNet with and without balancing", original=orig)
    assert csv == tmp_path / "out" / "tables" / "balancing.csv"
    assert pd.read_csv(csv).equals(df)
    md = (tmp_path / "out" / "tables" / "balancing.md").read_text()
    assert md.splitlines()[0] == SYNTHETIC_LINE and md.startswith("SYNTHETIC DATA")
    assert "AlexNet with and without balancing" in md and "0.8416" in md
    assert (tmp_path / "out" / "tables" / "balancing.original.csv").is_file()
    out.table(df.set_index("balancing"), "balancing")  # same name again: replaced, index kept as a column
    m = load_metrics(tmp_path / "out")
    assert m["tables"] == [
        {"name": "balancing", "caption": None, "csv": "tables/balancing.csv", "md": "tables/balancing.md"}
    ]
    assert list(pd.read_csv(csv).columns) == ["balancing", "val_acc"]
    assert not (tmp_path / "out" / "tables" / "balancing.original.csv").exists()


def test_table_real_data_has_no_synthetic_line_but_flags_other_datasets(tmp_path):
    out = make(tmp_path, synthetic=False)
    out.table(pd.DataFrame({"a": [1]}), "t")
    assert "SYNTHETIC" not in (tmp_path / "out" / "tables" / "t.md").read_text()
    out2 = make(tmp_path / "b", synthetic=False, dataset=["mnist", "pneumoniamnist"])
    out2.table(pd.DataFrame({"a": [1]}), "t")
    assert (
        (tmp_path / "b" / "out" / "tables" / "t.md")
        .read_text()
        .startswith("dataset pneumoniamnist, not the report's pathmnist")
    )
    assert comparability_notes("pathmnist", False) == [] and comparability_notes(["MNIST"], False) == []


def test_figure_png_and_synthetic_mark(tmp_path):
    out = make(tmp_path)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    png = out.figure(fig, "curve", caption="Validation accuracy")
    assert png == tmp_path / "out" / "figures" / "curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("SYNTHETIC DATA" in t.get_text() for t in fig.texts)
    n_texts = len(fig.texts)
    out.figure(fig, "curve", caption="again")  # saved again: mark not added twice, entry replaced
    assert len(fig.texts) == n_texts
    assert load_metrics(tmp_path / "out")["figures"] == [
        {"name": "curve", "caption": "again", "png": "figures/curve.png"}
    ]
    plt.close(fig)

    real = make(tmp_path / "real", synthetic=False)
    fig, _ = plt.subplots(figsize=(2, 2))
    real.figure(fig, "plain")
    assert not any("SYNTHETIC" in t.get_text() for t in fig.texts)
    plt.close(fig)
    with pytest.raises(ValueError, match="file name"):
        real.figure(fig, "../escape")


def test_metrics_written_as_we_go_and_rewritable(tmp_path):
    out = make(tmp_path)
    out.note("started")
    assert load_metrics(tmp_path / "out")["notes"] == ["started"]  # a notebook that dies now still left one
    out.add_run("r", "simplecnn", {}, fit=FakeFit())
    first = load_metrics(tmp_path / "out")
    out.write()
    second = load_metrics(tmp_path / "out")
    assert len(second["runs"]) == 1 and second["seconds"] >= first["seconds"]


def test_synthetic_marker_in_data_root_forces_synthetic(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "SYNTHETIC.json").write_text("{}")
    out = make(tmp_path, synthetic=False, data_root=root)
    assert out.synthetic is True
    assert json.loads(out.write().read_text())["synthetic"] is True


def test_from_params(tmp_path):
    p = {
        "out_dir": tmp_path / "o",
        "notebook": "05_x",
        "profile": "quick",
        "data_flag": "pneumoniamnist",
        "synthetic": False,
        "seed": 22,
        "data_root": None,
    }
    out = Outputs.from_params(p, device="cpu")
    m = json.loads(out.write().read_text())
    assert (m["notebook"], m["profile"], m["dataset"], m["synthetic"], m["seed"]) == (
        "05_x",
        "quick",
        "pneumoniamnist",
        False,
        22,
    )
    assert Outputs.from_params(p, device="cpu", dataset="mnist").dataset == "mnist"


def test_side_by_side_sets_original_beside_this_run(tmp_path):
    from dive import reference

    this = pd.DataFrame(
        {"balancing": [True, False], "early_stopping": [False, False], "val_acc": [0.9, 0.8], "epochs": [3, 3]}
    )
    both = reference.side_by_side(
        reference.TABLE1_BALANCING, this, ["balancing", "early_stopping"], ["val_acc", "epochs"]
    )
    assert list(both.columns) == [
        "balancing",
        "early_stopping",
        "val_acc (original)",
        "val_acc (this run)",
        "epochs (original)",
        "epochs (this run)",
    ]
    assert len(both) == 4 and both["val_acc (original)"].tolist() == [0.8416, 0.8963, 0.8894, 0.9118]  # original order
    assert both["val_acc (this run)"].tolist()[:2] == [0.8, 0.9] and both["val_acc (this run)"].isna().sum() == 2
    with pytest.raises(ValueError, match="lacks columns"):
        reference.side_by_side(reference.TABLE1_BALANCING, this, ["balancing"], ["f1"])
    # reference values are fractions, as the outputs require
    for table in (
        reference.TABLE1_BALANCING,
        reference.TABLE2_AUGMENTATION,
        reference.TABLE3_BATCHNORM,
        reference.TABLE5_MNIST,
    ):
        assert table["val_acc"].between(0, 1).all()
    assert reference.TABLE3_BATCHNORM["best_epoch"].tolist() == list(reference.TABLE3_BEST_EPOCHS) == [34, 63, 27]
    out = make(tmp_path, synthetic=False)
    out.table(both, "balancing", original=reference.TABLE1_BALANCING)
    assert "val_acc (this run)" in (tmp_path / "out" / "tables" / "balancing.md").read_text()


def test_checkpoint_dir_follows_the_checkpoints_parameter(tmp_path):
    base = {"out_dir": tmp_path, "notebook": "03_x", "profile": "quick", "data_flag": "pathmnist", "seed": 22}
    on = Outputs.from_params({**base, "checkpoints": True}, device="cpu")
    assert on.checkpoint_dir("run_1") == tmp_path / "checkpoints" / "run_1"
    assert Outputs.from_params(base, device="cpu").checkpoint_dir("a") is not None  # not set: resumable
    assert Outputs.from_params({**base, "checkpoints": False}, device="cpu").checkpoint_dir("a") is None
    with pytest.raises(ValueError, match="file name"):
        on.checkpoint_dir("../escape")


def test_note_departures_records_a_note_and_returns_the_table(tmp_path, monkeypatch):
    from dive import profiles

    monkeypatch.setattr(profiles, "profile_values", lambda nb, prof, **kw: {"epochs": 20, "train_size": None})
    p = {
        "out_dir": tmp_path,
        "notebook": "03_x",
        "profile": "quick",
        "data_flag": "pathmnist",
        "seed": 22,
        "epochs": 3,
        "train_size": 100,
    }
    out = Outputs.from_params(p, device="cpu")
    table = out.note_departures(p)
    assert list(table["parameter"]) == ["epochs", "train_size"]
    assert list(table.columns) == ["parameter", "report (full profile)", "this run (quick)"]
    assert any(
        "epochs 3 (report: 20)" in n and "train_size 100 (report: all)" in n
        for n in load_metrics(out.metrics_path)["notes"]
    )


# --- seeds and groups (issue #10) ---------------------------------------------------------------
T_975_DF1 = 12.706204736174703  # Student t, 97.5 % quantile, 1 degree of freedom (t tables: 12.706)


@dataclass
class FakeConfig:
    seed: int = 7

    def fingerprint(self):
        return "abc123"


def test_one_entry_per_seed_and_a_group_with_n_2(tmp_path):
    out = make(tmp_path)
    out.add_run("balanced", "alexnet", {"seed": 22, "lr": 0.01}, val=full_metrics(0.90), test=full_metrics(0.80))
    out.add_run("balanced", "alexnet", {"seed": 23, "lr": 0.01}, val=full_metrics(0.92), test=full_metrics(0.86))
    out.add_run(
        "balanced", "alexnet", {"seed": 22, "lr": 0.01}, val=full_metrics(0.90), test=full_metrics(0.84)
    )  # replaces
    out.add_run("unbalanced", "alexnet", {"seed": 22}, val=full_metrics(0.85))
    m = load_metrics(out.write())
    assert [(r["name"], r["seed"]) for r in m["runs"]] == [("balanced", 22), ("balanced", 23), ("unbalanced", 22)]
    assert m["runs"][0]["test"]["accuracy"] == pytest.approx(0.84)
    g = {x["name"]: x for x in m["groups"]}
    assert list(g) == ["balanced", "unbalanced"] and all(set(x) == GROUP_KEYS for x in m["groups"])
    b = g["balanced"]
    assert (b["n"], b["seeds"], b["runs"]) == (2, [22, 23], ["balanced"])
    assert b["values"]["val_accuracy"] == pytest.approx([0.90, 0.92])
    assert b["values"]["test_accuracy"] == pytest.approx([0.84, 0.86]) and b["values"]["val_auc"] == pytest.approx(
        [0.95, 0.95]
    )
    s = b["summary"]["val_accuracy"]
    # by hand: mean 0.91, std sqrt(2 * 0.01^2 / 1) = 0.0141421, half-width t(0.975, 1) * std / sqrt(2) = 12.706 * 0.01
    assert s["n"] == 2 and s["mean"] == pytest.approx(0.91) and s["std"] == pytest.approx(0.01 * 2**0.5)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((0.91 - T_975_DF1 * 0.01, 0.91 + T_975_DF1 * 0.01))
    assert b["summary"]["test_accuracy"]["mean"] == pytest.approx(0.85)
    u = g["unbalanced"]
    assert u["n"] == 1 and "test_accuracy" not in u["summary"]  # no test results: no fake entry
    su = u["summary"]["val_accuracy"]
    assert su["mean"] == pytest.approx(0.85) and su["std"] is None and su["ci_low"] is None and su["ci_high"] is None
    assert su["interval"] == "none (single run)"


def test_seed_keyword_config_fingerprint_and_explicit_group(tmp_path):
    out = make(tmp_path)
    r = out.add_run("a_seed7", "alexnet", {"seed": 1}, config=FakeConfig(), group="alexnet", val=full_metrics(0.5))
    assert (r["seed"], r["fingerprint"], r["group"]) == (7, "abc123", "alexnet")  # config wins over params
    r = out.add_run(
        "a_seed9", "alexnet", {"seed": 1}, seed=9, config=FakeConfig(), group="alexnet", val=full_metrics(0.7)
    )
    assert r["seed"] == 9  # the keyword wins
    (g,) = load_metrics(out.metrics_path)["groups"]
    assert (g["name"], g["n"], g["seeds"], g["runs"]) == ("alexnet", 2, [7, 9], ["a_seed7", "a_seed9"])
    with pytest.raises(ValueError, match="already has seed 9"):
        out.add_run("other", "alexnet", {}, seed=9, group="alexnet")
    with pytest.raises(TypeError, match="integer"):
        out.add_run("bad", "alexnet", {"seed": "x"})
    assert len(out.runs) == 2


def test_kept_epoch_and_its_validation_loss(tmp_path):
    out = make(tmp_path)
    last = out.add_run("last", "alexnet", {}, fit=FakeFit())  # no restored best: the last epoch's weights
    assert (last["kept_epoch"], last["val_loss"]) == (3, pytest.approx(1.1 / 3))
    fit = FakeFit()
    fit.restored_best = True
    best = out.add_run("best", "alexnet", {}, fit=fit)
    assert (best["kept_epoch"], best["val_loss"]) == (2, pytest.approx(1.1 / 2))
    assert load_metrics(out.metrics_path)["groups"][1]["summary"]["val_loss"]["mean"] == pytest.approx(0.55)


def test_add_group_from_runs_or_per_seed_values(tmp_path):
    out = make(tmp_path)
    out.add_run("x_seed22", "alexnet", {"seed": 22}, val=full_metrics(0.6))
    out.add_run("x_seed23", "alexnet", {"seed": 23}, val=full_metrics(0.8))
    g = out.add_group("x", ["x_seed22", "x_seed23"])
    assert (g["n"], g["seeds"]) == (2, [22, 23]) and g["summary"]["val_accuracy"]["mean"] == pytest.approx(0.7)
    per_seed = pd.DataFrame(
        {"seed": [22, 23, 24], "val_accuracy": [0.97, 0.98, 0.99], "train_accuracy": [0.99, 1.0, 1.0]}
    )
    g = out.add_group("table5_lr0.001", values=per_seed)
    assert (g["n"], g["seeds"], g["runs"]) == (3, [22, 23, 24], [])
    assert g["summary"]["val_accuracy"]["mean"] == pytest.approx(0.98) and g["summary"]["val_accuracy"][
        "std"
    ] == pytest.approx(0.01)
    m = load_metrics(out.metrics_path)
    assert [x["name"] for x in m["groups"]] == ["x_seed22", "x_seed23", "x", "table5_lr0.001"]
    assert m["groups"][3]["values"]["train_accuracy"] == pytest.approx([0.99, 1.0, 1.0])
    frame = out.per_seed()  # long frame: config, seed, one column per metric
    assert list(frame.columns[:2]) == ["config", "seed"] and len(frame) == 2 + 2 + 3
    assert frame.loc[frame["config"] == "table5_lr0.001", "val_accuracy"].tolist() == pytest.approx([0.97, 0.98, 0.99])
    with pytest.raises(ValueError, match="no recorded run named \\['nope'\\]; recorded: x_seed22, x_seed23"):
        out.add_group("y", ["nope"])
    with pytest.raises(ValueError, match="either runs"):
        out.add_group("y")
    with pytest.raises(ValueError, match="'seed' column"):
        out.add_group("y", values=pd.DataFrame({"val_accuracy": [0.5]}))
    out.add_run("z", "alexnet", {"seed": 22}, val=full_metrics(0.5))
    with pytest.raises(ValueError, match="seed\\(s\\) 22 appear in more than one"):
        out.add_group("y", ["x_seed22", "z"])
