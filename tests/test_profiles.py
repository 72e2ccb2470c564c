"""dive.profiles: merge order, validation, derived data_root / out_dir (no real modules needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dive import profiles
from dive.profiles import PROFILES, Params, load_profile, resolve

QUICK = {
    "common": {"epochs": 3, "lr": 0.01, "batch_size": 32, "model": "resnet18"},
    "01_demo": {"epochs": 5, "models": ["alexnet", "resnet18"]},
    "02_empty": None,
}


@pytest.fixture()
def env(tmp_path, monkeypatch):
    pdir = tmp_path / "profiles"
    pdir.mkdir()
    (pdir / "quick.yaml").write_text(yaml.safe_dump(QUICK))
    (pdir / "smoke.yaml").write_text(yaml.safe_dump({"common": {"synthetic": True, "epochs": 1}}))
    (pdir / "full.yaml").write_text("# only comments\n")
    monkeypatch.setenv("DIVE_PROFILES_DIR", str(pdir))
    monkeypatch.setenv("DIVE_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("DIVE_DATA", raising=False)
    calls = []

    def fake_synthetic(root):
        calls.append(Path(root))
        return Path(root)

    monkeypatch.setattr(profiles, "_ensure_synthetic", fake_synthetic)
    monkeypatch.setattr(profiles, "_default_data_root", lambda: tmp_path / "default-data")
    return {"tmp": tmp_path, "pdir": pdir, "synthetic_calls": calls}


def test_merge_order_common_section_given(env):
    p = resolve("01_demo", "quick")
    assert (p.epochs, p.lr, p.batch_size) == (5, 0.01, 32)  # section beats common
    p = resolve("01_demo", "quick", epochs=9, lr=None, extra="x")  # given beats section; None = profile value
    assert (p.epochs, p.lr, p.extra) == (9, 0.01, "x")
    p = resolve("02_empty.ipynb", "quick")  # empty section, .ipynb suffix accepted
    assert p.epochs == 3 and p.notebook == "02_empty"
    p = resolve("03_no_section", "quick")
    assert p.epochs == 3


def test_a_data_sets_section_applies_only_on_that_data_set(env):
    """``<stem>@<flag>`` beats the notebook's section when the notebook runs on that flag (given, or the profile's),
    a given value beats it, and it never touches another data set or another notebook; its ``why`` joins the
    departures table on that data set only."""
    quick = dict(QUICK)
    quick["01_demo"] = {**QUICK["01_demo"], "why": {"epochs": "a CPU budget"}}
    quick["01_demo@breastmnist"] = {"epochs": 40, "patience": 10, "why": {"epochs": "437 images: 7 steps an epoch"}}
    (env["pdir"] / "quick.yaml").write_text(yaml.safe_dump(quick))
    (env["pdir"] / "full.yaml").write_text(yaml.safe_dump({"common": {"epochs": 20}}))
    assert resolve("01_demo", "quick").epochs == 5  # pathmnist, the default flag: no data set section
    assert resolve("01_demo", "quick", data_flag="pneumoniamnist").epochs == 5
    p = resolve("01_demo", "quick", data_flag="breastmnist")
    assert (p.epochs, p.patience, p.lr) == (40, 10, 0.01)  # the data set's section, then the notebook's, then common
    assert resolve("01_demo", "quick", data_flag="breastmnist", epochs=2).epochs == 2  # given beats it
    assert "patience" not in resolve("03_no_section", "quick", data_flag="breastmnist")
    why = {r["parameter"]: r["why"] for r in profiles.departures(p)}
    assert why["epochs"] == "437 images: 7 steps an epoch"
    assert profiles.profile_values("01_demo", "quick", data_flag="breastmnist")["epochs"] == 40
    assert profiles.profile_values("01_demo", "quick")["epochs"] == 5
    assert {r["parameter"]: r["why"] for r in profiles.departures(resolve("01_demo", "quick"))}["epochs"] == (
        "a CPU budget"
    )
    quick["common"] = {**QUICK["common"], "data_flag": "breastmnist"}  # the profile's own flag selects it too
    (env["pdir"] / "quick.yaml").write_text(yaml.safe_dump(quick))
    assert resolve("01_demo", "quick").epochs == 40
    assert resolve("01_demo", "quick", data_flag="pathmnist").epochs == 5


def test_a_data_sets_section_must_name_a_data_set_and_a_notebook(env):
    for section, match in (
        ("01_demo@breastmnst", r"quick\.yaml.*'01_demo@breastmnst'.*unknown data_flag 'breastmnst'"),
        ("common@breastmnist", r"quick\.yaml.*'common@breastmnist'.*belongs to one notebook"),
    ):
        (env["pdir"] / "quick.yaml").write_text(yaml.safe_dump({**QUICK, section: {"epochs": 9}}))
        with pytest.raises(ValueError, match=match):
            load_profile("quick")
        with pytest.raises(ValueError, match=match):
            resolve("01_demo", "quick", data_flag="breastmnist")
    quick = {**QUICK, "01_demo@breastmnist": {"epochs": "many"}}
    (env["pdir"] / "quick.yaml").write_text(yaml.safe_dump(quick))
    with pytest.raises(
        profiles.ParameterError, match=r"epochs = 'many' \(profile quick, section 01_demo@breastmnist\)"
    ):
        resolve("01_demo", "quick", data_flag="breastmnist")
    assert resolve("01_demo", "quick").epochs == 5  # checked where it applies


def test_shared_defaults_and_params_type(env):
    p = resolve("01_demo", "quick")
    assert isinstance(p, Params) and isinstance(p, dict)
    assert (p.profile, p.data_flag, p.seed, p.device, p.synthetic) == ("quick", "pathmnist", 22, "auto", False)
    assert list(p)[:3] == ["profile", "notebook", "data_flag"]
    text = repr(p)
    assert "epochs" in text and "pathmnist" in text
    md = p._repr_markdown_()
    assert md.startswith("| parameter | value |") and "`epochs`" in md
    with pytest.raises(AttributeError, match="no parameter"):
        p.nonexistent  # noqa: B018 - the attribute access is what raises
    p.epochs = 7
    assert p["epochs"] == 7


def test_out_dir_default_and_given(env):
    p = resolve("01_demo", "quick")
    assert p.out_dir == env["tmp"] / "reports" / "quick" / "01_demo"
    assert p.out_dir.is_dir()
    given = env["tmp"] / "elsewhere"
    assert resolve("01_demo", "quick", out_dir=str(given)).out_dir == given and given.is_dir()


def test_out_dir_default_is_repo_reports(monkeypatch, env):
    monkeypatch.delenv("DIVE_REPORTS_DIR")
    out = profiles.default_out_dir("01_demo", "quick", create=False)
    assert out == profiles.REPO_ROOT / "reports" / "quick" / "01_demo"


def test_unknown_profile_lists_choices(env):
    for call in (lambda: load_profile("fast"), lambda: resolve("01_demo", "fast")):
        with pytest.raises(ValueError) as err:
            call()
        for name in PROFILES:
            assert name in str(err.value)


def test_unknown_data_flag_lists_choices(env):
    with pytest.raises(ValueError, match="data_flag.*valid data flags: mnist, pathmnist, .*pneumoniamnist"):
        resolve("01_demo", "quick", data_flag="cifar10")
    assert resolve("01_demo", "quick", data_flag="pneumoniamnist").data_flag == "pneumoniamnist"


def test_unknown_model_lists_choices(env):
    with pytest.raises(ValueError, match="'vgg16'.*valid models: simplecnn_v1, simplecnn, alexnet, resnet18"):
        resolve("01_demo", "quick", model="vgg16")
    with pytest.raises(ValueError, match="models 'vgg16'"):
        resolve("01_demo", "quick", models=["alexnet", "vgg16"])
    with pytest.raises(ValueError, match="models 'vit'"):
        resolve("01_demo", "quick", models="alexnet, vit")
    assert resolve("01_demo", "quick", model="AlexNet").model == "AlexNet"  # case-insensitive check


def test_synthetic_profile_calls_ensure_synthetic_root(env, monkeypatch):
    monkeypatch.setenv("DIVE_DATA", str(env["tmp"] / "ignored"))
    p = resolve("01_demo", "smoke")
    assert p.synthetic is True
    assert env["synthetic_calls"] == [profiles.REPO_ROOT / "data" / "synthetic"]
    assert p.data_root == profiles.REPO_ROOT / "data" / "synthetic"
    # an explicit data_root wins, and then nothing is generated
    p = resolve("01_demo", "smoke", data_root=str(env["tmp"] / "mine"))
    assert p.data_root == env["tmp"] / "mine" and len(env["synthetic_calls"]) == 1


def test_dive_data_env_then_default_root(env, monkeypatch):
    assert resolve("01_demo", "quick").data_root == env["tmp"] / "default-data"
    monkeypatch.setenv("DIVE_DATA", str(env["tmp"] / "real"))
    assert resolve("01_demo", "quick").data_root == env["tmp"] / "real"
    assert env["synthetic_calls"] == []


def test_load_profile_shape_and_errors(env):
    data = load_profile("quick")
    assert data["common"]["epochs"] == 3 and data["02_empty"] == {}
    assert load_profile("full") == {"common": {}}
    (env["pdir"] / "full.yaml").write_text("common:\n  profile: quick\n")
    with pytest.raises(ValueError, match="file name is the profile"):
        load_profile("full")
    (env["pdir"] / "full.yaml").write_text("common: [1, 2]\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        load_profile("full")
    (env["pdir"] / "full.yaml").unlink()
    with pytest.raises(FileNotFoundError):
        load_profile("full")


def test_real_profile_files_are_valid(monkeypatch):
    """The repository's own YAML files: every profile loads and has a common section."""
    monkeypatch.delenv("DIVE_PROFILES_DIR", raising=False)
    for name in PROFILES:
        data = load_profile(name)
        assert isinstance(data["common"], dict)
        assert all(isinstance(v, dict) for v in data.values())
    assert load_profile("smoke")["common"].get("synthetic") is True
    assert not load_profile("full")["common"].get("synthetic", False)


def test_departures_list_what_differs_from_the_full_profile(env):
    (env["pdir"] / "full.yaml").write_text(
        yaml.safe_dump(
            {
                "common": {"epochs": 20, "lr": 0.01, "batch_size": 32, "device": "cuda", "checkpoints": True},
                "01_demo": {"train_size": None, "image_size": None},
            }
        )
    )
    p = resolve("01_demo", "quick", train_size=500, device="cpu", checkpoints=False)
    rows = {r["parameter"]: (r["report"], r["this_run"]) for r in profiles.departures(p)}
    # epochs 5 vs 20, a subset vs all; the same lr and batch size, and device/checkpoints/paths are no departure
    assert rows == {
        "epochs": ("20", "5"),
        "train_size": ("all", "500"),
        "model": ("default", "resnet18"),
        "models": ("default", "['alexnet', 'resnet18']"),
    }
    note = profiles.departures_note(p)
    assert note.startswith("profile 'quick' departs") and "epochs 5 (report: 20)" in note
    same = resolve("01_demo", "full", device="cpu")  # the report's own settings; the device is no setting
    assert profiles.departures(same) == [] and profiles.departures_note(same) is None


def test_a_profile_says_why_it_departs_and_the_departures_table_shows_it(env):
    """``why: {parameter: reason}`` in a section (or common) is no parameter; the departures table and the note
    show each reason beside its row, and a parameter that does not depart shows none."""
    from dive.outputs import Outputs

    quick = dict(QUICK, common={**QUICK["common"], "why": {"batch_size": "common reason"}})
    quick["01_demo"] = {**QUICK["01_demo"], "why": {"epochs": "a CPU budget", "lr": "never departs"}}
    (env["pdir"] / "quick.yaml").write_text(yaml.safe_dump(quick))
    (env["pdir"] / "full.yaml").write_text(
        yaml.safe_dump({"common": {"epochs": 20, "lr": 0.01, "batch_size": 64}, "01_demo": {}})
    )
    assert (
        "why" not in profiles.load_profile("quick")["01_demo"] and "why" not in profiles.load_profile("quick")["common"]
    )
    p = resolve("01_demo", "quick")
    assert "why" not in p
    why = {r["parameter"]: r["why"] for r in profiles.departures(p)}
    assert why["epochs"] == "a CPU budget" and why["batch_size"] == "common reason" and "lr" not in why
    assert why["model"] == ""  # a departure with no reason given
    assert "epochs 5 (report: 20; a CPU budget)" in profiles.departures_note(p)
    out = Outputs(
        env["tmp"] / "out",
        notebook="01_demo",
        profile="quick",
        dataset="pathmnist",
        synthetic=True,
        device="cpu",
        seed=22,
    )
    table = out.note_departures(p)
    assert table.set_index("parameter").loc["epochs", "why"] == "a CPU budget"


def test_a_reason_for_no_parameter_is_an_error_naming_the_file(env):
    quick = dict(QUICK, **{"01_demo": {**QUICK["01_demo"], "why": {"epoch": "typo"}}})
    (env["pdir"] / "quick.yaml").write_text(yaml.safe_dump(quick))
    with pytest.raises(ValueError, match=r"quick\.yaml.*'01_demo'.*names no parameter: epoch"):
        resolve("01_demo", "quick")
    quick["01_demo"]["why"] = ["not", "a", "mapping"]
    (env["pdir"] / "quick.yaml").write_text(yaml.safe_dump(quick))
    with pytest.raises(ValueError, match="must map parameter names to reasons"):
        profiles.load_profile("quick")


def test_departures_compare_converted_values(env):
    """A YAML string that validate converts ("0.001", "Adam") is no departure from the same value."""
    (env["pdir"] / "full.yaml").write_text(
        yaml.safe_dump(
            {"common": {"epochs": "5", "lr": "0.01", "batch_size": 32.0, "optimizer": "Adam"}, "01_demo": {}}
        )
    )
    p = resolve("01_demo", "quick", optimizer="adam")
    assert (p.epochs, p.lr, p.batch_size, p.optimizer) == (5, 0.01, 32, "adam")
    rows = {r["parameter"] for r in profiles.departures(p)}
    assert rows == {"model", "models"}
    p = resolve("01_demo", "quick", lr="0.1")
    assert {r["parameter"]: r["this_run"] for r in profiles.departures(p)}["lr"] == "0.1"


def test_resolve_converts_yaml_strings_and_rejects_lossy_values(env):
    (env["pdir"] / "quick.yaml").write_text(
        yaml.safe_dump(
            {
                "common": {"epochs": "3", "lr": "1e-3", "batch_size": 32.0, "synthetic": "false"},
                "01_demo": {"batch_size": 2.5, "patience": 0},
            }
        )
    )
    p = resolve("02_other", "quick")
    assert (p.epochs, p.lr, p.batch_size, p.synthetic) == (3, 0.001, 32, False)
    assert type(p.epochs) is int and type(p.batch_size) is int
    with pytest.raises(profiles.ParameterError) as err:
        resolve("01_demo", "quick")
    assert err.value.problems == [
        "batch_size = 2.5 (profile quick, section 01_demo) in notebook 01_demo: expected an integer >= 1 "
        + "— batch_size: batch size",
        "patience = 0 (profile quick, section 01_demo) in notebook 01_demo: expected an integer >= 1 or None "
        + "— patience: early-stopping patience in epochs (None: no early stopping)",
    ]
    assert not (env["tmp"] / "reports" / "quick" / "01_demo").exists()  # nothing made before the check


def test_run_store_is_the_environments_else_under_the_reports(tmp_path, monkeypatch):
    monkeypatch.delenv("DIVE_RUN_STORE", raising=False)
    assert profiles.run_store("quick", tmp_path) == tmp_path / "quick" / "runs"
    monkeypatch.setenv("DIVE_REPORTS_DIR", str(tmp_path / "r"))
    assert profiles.run_store("smoke") == tmp_path / "r" / "smoke" / "runs"
    monkeypatch.setenv("DIVE_RUN_STORE", str(tmp_path / "shared"))
    assert profiles.run_store("quick", tmp_path) == tmp_path / "shared"
