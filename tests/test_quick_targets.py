"""benchmarks.quick_targets: issue 20's six targets read off a report folder.

The smoke report (synthetic data, one or two seeds) is read as it is -- every target gets a row from the files the
real producers wrote -- and then a copy of its tables is edited so that each target must turn "not met": the
checker has to see a configuration under the bar, a mean under the published value, a claim on one seed, a
report over the hour and a Grad-CAM on a 1x1 map."""

import json
import shutil

import pandas as pd
import pytest

from benchmarks import quick_targets as qt


def _copy(report, dest):
    """The files the checker reads (metrics.json, tables, claims), without the runs and the HTML."""
    for pattern in ("[0-9][0-9]_*/metrics.json", "[0-9][0-9]_*/tables/*.csv", "claims/*.csv"):
        for src in report.glob(pattern):
            target = dest / src.relative_to(report)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def _edit(path, change):
    frame = pd.read_csv(path)
    change(frame)
    frame.to_csv(path, index=False)


def _results(folder):
    frame = qt.check(folder)
    return dict(zip(frame["target"], frame["result"], strict=True)), frame


def test_smoke_report_has_a_row_for_every_target_and_says_synthetic(smoke_report, capsys):
    frame = qt.check(smoke_report)
    assert list(frame["target"]) == [1, 2, 3, 4, 5, 6]
    assert frame["result"].isin([qt.MET, qt.NOT_MET, qt.CANNOT_CHECK]).all()
    assert frame.attrs["synthetic"] is True and "pathmnist" in frame.attrs["data"]
    # every file the targets need is in a finished report: nothing is "cannot check"
    assert (frame["result"] != qt.CANNOT_CHECK).all(), frame.to_string()
    # target 5 from the build's own record: every notebook's wall time, HTML and PDF, from an empty store
    record = json.loads((smoke_report / "build.json").read_text())
    five = frame.set_index("target").loc[5]
    assert five["result"] == qt.MET and f"{record['total_seconds'] / 60:.1f} min" in five["evidence"]
    assert "held 0 finished runs" in five["evidence"]
    assert qt.main([str(smoke_report)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SYNTHETIC DATA") and "not a quick report" in out


def test_each_target_fails_when_its_evidence_does(smoke_report, tmp_path):
    folder = _copy(smoke_report, tmp_path / "smoke")

    def everything_at_the_bars(frame):
        frame["means at the bars"] = "yes"

    _edit(folder / "claims" / "learning.csv", everything_at_the_bars)
    assert _results(folder)[0][1] == qt.MET

    learning_csv = folder / "claims" / "learning.csv"
    first = pd.read_csv(learning_csv).query("notebook.str.startswith('04')").iloc[0]

    def one_short(frame):
        frame.loc[
            (frame["notebook"] == first["notebook"]) & (frame["configuration"] == first["configuration"]),
            "means at the bars",
        ] = "no"

    _edit(learning_csv, one_short)
    results, frame = _results(folder)
    assert results[1] == qt.NOT_MET and first["configuration"] in frame.set_index("target").loc[1, "evidence"]

    def at_published(frame):
        frame["test ACC"], frame["test AUC"] = frame["ResNet-18 (28) ACC"], frame["ResNet-18 (28) AUC"]

    def just_below(frame):
        frame["test AUC"] = frame["ResNet-18 (28) AUC"] - 0.001

    for stem in qt.PUBLISHED_NOTEBOOKS:
        _edit(folder / stem / "tables" / "resnet18_vs_published.csv", at_published)
    assert _results(folder)[0][2] == qt.MET  # "at or above": at is enough
    _edit(folder / "07_resnet_tuning" / "tables" / "resnet18_vs_published.csv", just_below)
    assert _results(folder)[0][2] == qt.NOT_MET

    def above_report(frame):
        frame["mean"] = frame["report (Table 5 defaults)"] + 0.001

    def below_report(frame):
        frame["mean"] = frame["report (Table 5 defaults)"] - 0.001

    improved = folder / qt.MNIST_NOTEBOOK / "tables" / "improved_vs_report.csv"
    _edit(improved, above_report)
    assert _results(folder)[0][3] == qt.MET
    _edit(improved, below_report)
    assert _results(folder)[0][3] == qt.NOT_MET

    def three_seeds(frame):
        frame["n"], frame["holds"], frame["verdict"] = 3, "yes", "supported"

    def one_single_run(frame):
        frame.loc[0, "n"], frame.loc[0, "holds"] = 1, "cannot tell (single run)"

    claims_csv = folder / "claims" / "claims.csv"
    _edit(claims_csv, three_seeds)
    assert _results(folder)[0][4] == qt.MET
    _edit(claims_csv, one_single_run)
    results, frame = _results(folder)
    assert results[4] == qt.NOT_MET and "(n 1)" in frame.set_index("target").loc[4, "evidence"]

    assert _results(folder)[0][5] == qt.MET  # the smoke report: minutes, every loaded run trained by it
    metrics = folder / "08_xception" / "metrics.json"
    m = json.loads(metrics.read_text())
    m["seconds"] = qt.BUDGET_S + 1
    metrics.write_text(json.dumps(m))
    assert _results(folder)[0][5] == qt.NOT_MET

    def layer_with_a_map(frame):
        frame.loc[frame["method"] == "gradcam", "gradcam_layer"] = "layer2 (4x4)"

    def one_by_one(frame):
        frame.loc[frame["method"] == "gradcam", "gradcam_layer"] = "layer4 (1x1)"

    faith = folder / qt.EXPLANATIONS / "tables" / "faithfulness.csv"
    assert (pd.read_csv(faith)["method"] == "gradcam").any(), "the smoke report's notebook 10 has no Grad-CAM row"
    _edit(faith, layer_with_a_map)
    assert _results(folder)[0][6] == qt.MET
    _edit(faith, one_by_one)
    assert _results(folder)[0][6] == qt.NOT_MET


def test_missing_evidence_is_cannot_check_never_met(smoke_report, tmp_path):
    folder = _copy(smoke_report, tmp_path / "smoke")
    for path in (
        folder / "claims" / "learning.csv",
        folder / "claims" / "claims.csv",
        folder / "03_resnet18_baseline" / "tables" / "resnet18_vs_published.csv",
        folder / qt.MNIST_NOTEBOOK / "tables" / "improved_vs_report.csv",
        folder / qt.EXPLANATIONS / "tables" / "faithfulness.csv",
    ):
        path.unlink()

    def at_published(frame):
        frame["test ACC"], frame["test AUC"] = frame["ResNet-18 (28) ACC"], frame["ResNet-18 (28) AUC"]

    # notebook 07's ResNet18 at the published values, notebook 03's table missing: not "met" on half the evidence
    _edit(folder / "07_resnet_tuning" / "tables" / "resnet18_vs_published.csv", at_published)
    results, _ = _results(folder)
    assert [results[t] for t in (1, 2, 3, 4, 6)] == [qt.CANNOT_CHECK] * 5


def test_a_folder_that_is_not_a_report_is_named(tmp_path, capsys):
    assert qt.main([str(tmp_path / "nowhere")]) == 2
    assert str(tmp_path / "nowhere") in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert qt.main([str(tmp_path / "empty")]) == 2
    assert "no <NN_name>/metrics.json" in capsys.readouterr().err
    broken = tmp_path / "broken" / "03_resnet18_baseline"
    broken.mkdir(parents=True)
    (broken / "metrics.json").write_text("{not json")
    with pytest.raises(qt.ReportFolderError, match="03_resnet18_baseline/metrics.json"):
        qt.check(tmp_path / "broken")


def test_a_time_counts_only_as_a_first_run(smoke_report, tmp_path):
    """Target 5 is a first run's time: a run loaded from a store folder older than the report, a run resumed from a
    checkpoint, or a loaded run whose folder is gone makes it "cannot check", never "met"."""
    import os

    from dive import store

    folder = _copy(smoke_report, tmp_path / "smoke")
    metrics = folder / "02_pathmnist_simplecnn" / "metrics.json"
    original = json.loads(metrics.read_text())
    old = tmp_path / "store" / "simplecnn-0123"
    old.mkdir(parents=True)
    (old / store.CONFIG_NAME).write_text("{}")
    os.utime(old / store.CONFIG_NAME, (0, 0))  # trained in 1970: long before this report began
    for note, found in (
        (f"simplecnn: loaded from the run store ({old}; trained before as 'simplecnn'), not retrained", "not a first"),
        (f"simplecnn: loaded from the run store ({tmp_path / 'gone'}; trained before as 'x'), not retrained", "gone"),
        ("simplecnn: resumed from the checkpoint of epoch 2 in /somewhere", "resumed"),
    ):
        metrics.write_text(json.dumps({**original, "notes": [*original["notes"], note]}))
        results, frame = _results(folder)
        assert results[5] == qt.CANNOT_CHECK and found in frame.set_index("target").loc[5, "evidence"], note
    metrics.write_text(json.dumps(original))
    assert _results(folder)[0][5] == qt.MET


def test_target_5_reads_the_build_record_and_counts_only_a_first_run(smoke_report, tmp_path):
    folder = _copy(smoke_report, tmp_path / "smoke")
    original = json.loads((smoke_report / "build.json").read_text())
    cases = (
        ({}, qt.MET, "held 0 finished runs"),
        ({"total_seconds": qt.BUDGET_S + 1}, qt.NOT_MET, "60.0 min"),
        ({"finished_runs_at_start": 4}, qt.CANNOT_CHECK, "not a first run"),
        ({"pdf_seconds": None}, qt.CANNOT_CHECK, "without the PDF"),
        ({"notebooks": original["notebooks"][1:]}, qt.CANNOT_CHECK, "did not run"),
        # every notebook timed and under the hour, but the build failed or was killed before its HTML and PDF
        ({"complete": False, "finished": None, "html_seconds": None}, qt.CANNOT_CHECK, "did not finish"),
    )
    for change, result, said in cases:
        (folder / "build.json").write_text(json.dumps({**original, **change}))
        results, frame = _results(folder)
        assert results[5] == result and said in frame.set_index("target").loc[5, "evidence"], change
