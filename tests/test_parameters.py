"""Notebook parameters: declared once (dive.profiles.PARAMETERS), checked before any work.

* Every parameter of every notebook in notebooks/*.ipynb and every key of every profile is declared.
* ``validate`` names the parameter, the value, what is expected and the notebook, for every bad value
  at once; converts what converts without loss; touches nothing on disk.
* Through papermill: notebook 02 with ``lr="abc"`` stops in its setup cell, before any data is loaded.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from dive import profiles
from dive.profiles import PARAMETERS, PROFILES, ParameterError, param_spec, validate

REPO = Path(__file__).resolve().parent.parent
NB_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))


@pytest.fixture(autouse=True)
def real_profiles(monkeypatch, tmp_path):
    """The repository's own profiles; outputs (if anything were written) under tmp_path."""
    monkeypatch.delenv("DIVE_PROFILES_DIR", raising=False)
    monkeypatch.setenv("DIVE_REPORTS_DIR", str(tmp_path / "reports"))


def _parameters_cell(path: Path) -> list[str]:
    """The names a notebook's cell tagged ``parameters`` assigns (in order)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path.name}: expected one cell tagged 'parameters', found {len(cells)}"
    tree = ast.parse("".join(cells[0]["source"]))
    return [
        t.id
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    ]


# --- declared once ------------------------------------------------------------------------------


def test_every_notebook_parameter_and_profile_key_is_declared():
    assert len(NOTEBOOKS) >= 9, f"expected the report's notebooks in {NB_DIR}, found {len(NOTEBOOKS)}"
    undeclared = []
    for path in NOTEBOOKS:
        names = _parameters_cell(path)
        assert "profile" in names, f"{path.name}: no 'profile' parameter"
        undeclared += [f"{path.name}: {n}" for n in names if param_spec(path.stem, n) is None]
        sizes = [n for n in names if param_spec(path.stem, n) is not None and param_spec(path.stem, n).model_min]
        if sizes:  # their minimum depends on the model: the notebook's own or a parameter
            assert path.stem in profiles.NOTEBOOK_MODELS or {"model", "models"} & set(names), (
                f"{path.name} has {sizes} but no model to check them against: add it to "
                "dive.profiles.NOTEBOOK_MODELS or give it a model/models parameter"
            )
    for profile in PROFILES:
        for section, values in profiles.load_profile(profile).items():
            undeclared += [
                f"profiles/{profile}.yaml [{section}]: {k}"
                for k in values
                if param_spec(profiles.section_stem(section), k) is None
                and (section != "common" or k not in PARAMETERS)
            ]
    assert not undeclared, "declare these in dive.profiles.PARAMETERS: " + "; ".join(undeclared)


def test_upcoming_parameters_are_declared():
    for name in (
        "seeds",
        "split_seed",
        "executor",
        "ray_address",
        "precision",
        "channels_last",
        "compile",
        "deterministic",
        "flags",
        "methods",
        "n_images",
    ):
        assert name in PARAMETERS, name


def test_enumerations_are_their_owners_and_run_config_fields_are_one_spec():
    """One declaration per parameter: a notebook parameter that is a RunConfig field is that field's spec, and a
    choice reads its owner's registry (nothing to keep in step)."""
    from dive import attribution, config, data, executors, optim, precision, recipes

    for name in ("optimizer", "lr", "batch_size", "epochs", "patience", "split", "train_size", "image_size"):
        assert PARAMETERS[name] is config.FIELDS[name], name
    for name in ("normalize", "balanced", "precision", "channels_last", "compile", "deterministic", "seed"):
        assert PARAMETERS[name] is config.FIELDS[name], name
    assert PARAMETERS["data_flag"] is config.FIELDS["dataset"]
    assert config.FIELDS["optimizer"].choices is optim.OPTIMIZERS
    assert config.FIELDS["scheduler"].choices is optim.SCHEDULERS
    assert PARAMETERS["scheduler"].valid_choices() == ("none", *optim.SCHEDULERS)
    assert config.FIELDS["precision"].choices is precision.PRECISIONS
    assert config.FIELDS["split"].choices is data.SPLITS
    assert PARAMETERS["executor"].choices is executors.EXECUTORS
    assert PARAMETERS["methods"].item.choices is attribution.METHODS
    assert param_spec("09_medmnist_benchmark", "methods").item.choices is recipes.METHODS
    assert "mnist" not in PARAMETERS["flags"].item.valid_choices()
    assert "pathmnist" in PARAMETERS["flags"].item.valid_choices()


def test_a_new_optimizer_or_model_is_one_entry(monkeypatch):
    """Registering an optimizer (dive.optim.OPTIMIZERS) or a model (dive.models.MODELS) is all it takes: the run
    config, the notebooks' parameters and the optimizer factory accept it at once; before, all three refuse it."""
    import dataclasses

    import torch

    from dive import config, models, optim

    with pytest.raises(config.ConfigError, match="unknown optimizer 'rmsprop'"):
        config.RunConfig(optimizer="rmsprop")
    with pytest.raises(ParameterError, match="optimizer = 'rmsprop'"):
        validate("02_pathmnist_simplecnn", "smoke", optimizer="rmsprop")
    with pytest.raises(config.ConfigError, match="unknown model 'tinynet'"):
        config.RunConfig(model="tinynet")

    monkeypatch.setitem(optim.OPTIMIZERS, "rmsprop", (torch.optim.RMSprop, True))
    monkeypatch.setitem(models.MODELS, "tinynet", dataclasses.replace(models.MODELS["simplecnn"], name="tinynet"))
    cfg = config.RunConfig(optimizer="rmsprop", model="tinynet")
    assert (cfg.optimizer, cfg.model) == ("rmsprop", "tinynet")
    assert validate("02_pathmnist_simplecnn", "smoke", optimizer="rmsprop")["optimizer"] == "rmsprop"
    assert validate("03_resnet18_baseline", "smoke", model="tinynet")["model"] == "tinynet"
    opt = optim.make_optimizer("rmsprop", [torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.5)
    assert isinstance(opt, torch.optim.RMSprop) and opt.param_groups[0]["momentum"] == 0.5


def test_run_config_and_parameters_say_the_same_about_a_bad_value():
    """Values are checked by one rule: the spec RunConfig checks a field with is the one a notebook's parameter
    is converted by (a RunConfig takes no strings for numbers; the notebook's parameter converts them)."""
    from dive import config

    spec = config.FIELDS["lr"]
    assert spec.convert("0.001", "lr") == 0.001 and spec.problem(0.001, "lr") is None
    assert spec.problem("0.001", "lr") == "lr must be a number > 0, got '0.001'"
    with pytest.raises(config.ConfigError, match="lr must be a number > 0, got -1"):
        config.RunConfig(lr=-1.0)
    with pytest.raises(ParameterError, match=r"lr = -1.*expected a number > 0"):
        validate("02_pathmnist_simplecnn", "smoke", lr=-1)
    with pytest.raises(config.ConfigError, match="epochs must be an integer >= 1, got 2.0"):
        config.RunConfig(epochs=2.0)
    assert (
        config.RunConfig(lr=__import__("numpy").float64(0.01)).fingerprint() == config.RunConfig(lr=0.01).fingerprint()
    )


def test_min_image_size_is_the_models_own():
    from dive import models

    assert [models.min_image_size(n) for n in ("alexnet", "AlexNet", "resnet18", "xception")] == [63, 63, 1, 7]
    for name in ("alexnet", "resnet18"):
        assert models.min_image_size(name) == models.model_spec(name).min_size
    for name in ("simplecnn", "simplecnn_v1"):  # the SimpleCNNs refuse one pixel less
        need = models.min_image_size(name)
        assert models.model_spec(name, image_size=need).input_size == need
        with pytest.raises(ValueError, match="image_size"):
            models.model_spec(name, image_size=need - 1)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_is_valid_for_every_notebook_without_side_effects(profile, tmp_path, monkeypatch):
    def no_data(root):
        raise AssertionError("validate made synthetic data")

    monkeypatch.setattr(profiles, "_ensure_synthetic", no_data)
    for path in NOTEBOOKS:
        values = validate(path.stem, profile)
        assert values["seed"] == 22 and "out_dir" not in values
    assert not (tmp_path / "reports").exists()


# --- bad values -----------------------------------------------------------------------------------

NB02 = "02_pathmnist_simplecnn"
# (notebook, parameter, bad value, what the message must say is expected)
BAD = [
    (NB02, "lr", "abc", "expected a number > 0"),
    (NB02, "lr", -1, "expected a number > 0"),
    (NB02, "lr", 0, "expected a number > 0"),
    (NB02, "lr", float("nan"), "expected a number > 0"),
    (NB02, "epochs", 0, "expected an integer >= 1"),
    (NB02, "epochs", -3, "expected an integer >= 1"),
    (NB02, "epochs", True, "expected an integer >= 1"),
    (NB02, "batch_size", 2.5, "expected an integer >= 1"),
    (NB02, "batch_size", "32 images", "expected an integer >= 1"),
    (
        "04_alexnet_balancing",
        "image_size",
        8,
        "expected an integer >= 63 or None, the smallest input the model runs " + "on (alexnet 63 px)",
    ),
    ("07_resnet_tuning", "image_size", 0, "expected an integer >= 1 or None"),
    (NB02, "pretrained", "maybe", "expected one of True, False, auto"),
    (NB02, "synthetic", "yes", "expected True or False"),
    (NB02, "deterministic", 1, "expected True or False"),
    (NB02, "seeds", [], "expected a positive count or a non-empty list"),
    (NB02, "seeds", 0, "expected a positive count or a non-empty list"),
    (NB02, "seeds", [22, 2.5], "each item an integer >= 0"),
    (NB02, "optimizer", "adamx", "expected one of sgd, adam, nadam, adagrad, adamw"),
    (NB02, "scheduler", "sometimes", "expected one of none, plateau, step, multistep, cosine"),
    (NB02, "normalize", "minmax", "expected one of auto, imagenet, dataset"),
    (NB02, "split", "random", "expected one of official, report"),
    (NB02, "precision", "fp8", "expected one of auto, fp32, bf16, fp16"),
    (NB02, "channels_last", "yes", "expected one of auto, True, False"),
    (NB02, "compile", "sometimes", "expected one of auto, True, False"),
    (NB02, "executor", "dask", "expected one of local, ray"),
    (NB02, "patience", 0, "expected an integer >= 1 or None"),
    (NB02, "train_size", 0, "expected an integer >= 1 or None"),
    (NB02, "split_seed", -1, "expected an integer >= 0 or None"),
    (NB02, "seed", "twenty-two", "expected an integer >= 0"),
    (NB02, "device", "gpu", "expected auto or a torch device"),
    (NB02, "ray_address", 6379, "expected a string or None"),
    ("01_mnist_simplecnn", "lr_grid", [0.1, -1], "each item a number > 0"),
    ("01_mnist_simplecnn", "epochs_grid", [], "a non-empty list"),
    ("01_mnist_simplecnn", "batch_size_grid", "16,,32", "a non-empty list"),
    (
        NB02,
        "flags",
        ["pathmnist", "cifar10"],
        'expected "all" or a non-empty list (or comma-separated), each item one ' + "of pathmnist, ",
    ),
    (NB02, "methods", ["lime"], "each item one of saliency, integrated_gradients, occlusion, gradcam"),
    (NB02, "n_images", 0, "expected an integer >= 1"),
    ("07_resnet_tuning", "deep_model", "resnet18,resnet34", "expected a model name"),
]


@pytest.mark.parametrize(("notebook", "key", "value", "expected"), BAD, ids=[f"{k}={v!r}" for _, k, v, _ in BAD])
def test_bad_value_names_parameter_value_expectation_and_notebook(notebook, key, value, expected):
    with pytest.raises(ParameterError) as err:
        validate(notebook, "smoke", **{key: value})
    assert len(err.value.problems) == 1, err.value.problems
    problem = err.value.problems[0]
    assert problem.startswith(f"{key} = {value!r} (given) in notebook {notebook}: "), problem
    assert expected in problem, problem
    assert problem in str(err.value) and isinstance(err.value, ValueError)


def test_a_notebook_may_mean_its_own_thing_by_a_name():
    """Notebook 09's ``methods`` are benchmark recipes; elsewhere the shared meaning (attribution methods)."""
    v = validate("09_medmnist_benchmark", "smoke", methods="resnet18_report", seeds=[1, "2"], report_image_size="64")
    assert (v["methods"], v["seeds"], v["report_image_size"]) == (["resnet18_report"], [1, 2], 64)
    with pytest.raises(ParameterError) as err:
        validate("09_medmnist_benchmark", "smoke", methods=["saliency"], seeds=[], report_image_size=0)
    problems = {p.split(" (given) in notebook 09_medmnist_benchmark: ")[0]: p for p in err.value.problems}
    assert set(problems) == {"methods = ['saliency']", "seeds = []", "report_image_size = 0"}
    assert "one of simplecnn_report, resnet18_medmnist, resnet18_report" in problems["methods = ['saliency']"]
    assert validate("09_medmnist_benchmark", "smoke", seeds="22,23")["seeds"] == [22, 23]
    assert validate("09_medmnist_benchmark", "smoke", seeds=3)["seeds"] == 3  # a count, as in every notebook
    assert validate("10_explain", "smoke", methods=["saliency"], seeds=3)["seeds"] == 3


def test_names_keep_their_messages_listing_the_valid_names():
    with pytest.raises(ParameterError, match=r"data_flag = 'nosuchmnist'.*valid data flags: mnist, pathmnist"):
        validate(NB02, "smoke", data_flag="nosuchmnist")
    with pytest.raises(ParameterError, match=r"unknown deep_model 'vgg16'; valid models: simplecnn_v1, simplecnn"):
        validate("07_resnet_tuning", "smoke", deep_model="vgg16")
    with pytest.raises(ParameterError, match="valid profiles: smoke, quick, full"):
        validate(NB02, "fast")


def test_image_size_floor_comes_from_the_model_parameter():
    # 07 trains resnet18 and deep_model: with AlexNet as the deep model, 32 px (the smoke profile's) is too small
    with pytest.raises(ParameterError) as err:
        validate("07_resnet_tuning", "smoke", deep_model="alexnet")
    [problem] = err.value.problems
    assert problem.startswith("image_size = 32 (profile smoke, section 07_resnet_tuning) in notebook 07_resnet_tuning")
    assert ">= 63" in problem and "alexnet 63 px" in problem
    assert validate("07_resnet_tuning", "smoke", deep_model="resnet34")["image_size"] == 32
    # a model parameter counts too (notebook without a fixed model)
    with pytest.raises(ParameterError, match=r"image_size = 6 .*>= 7 .*xception 7 px"):
        validate("99_future", "smoke", model="xception", image_size=6)
    assert validate("99_future", "smoke", models=["resnet18", "xception"], image_size=7)["image_size"] == 7
    assert validate("04_alexnet_balancing", "smoke", image_size=63)["image_size"] == 63


def test_every_bad_value_is_reported_at_once():
    given = {
        "lr": "abc",
        "epochs": 0,
        "batch_size": 2.5,
        "optimizer": "adamx",
        "pretrained": "maybe",
        "seeds": [],
        "data_flag": "nosuchmnist",
        "image_size": 8,
    }
    with pytest.raises(ParameterError) as err:
        validate("04_alexnet_balancing", "quick", **given)
    problems = err.value.problems
    assert len(problems) == len(given), problems
    for key, value in given.items():
        assert sum(p.startswith(f"{key} = {value!r} (given) in notebook 04_alexnet_balancing") for p in problems) == 1
    text = str(err.value)
    assert text.startswith("notebook 04_alexnet_balancing, profile quick: 8 bad parameter value(s); nothing was run")
    assert all(p in text for p in problems)


def test_bad_profile_values_name_the_profile_and_section(tmp_path, monkeypatch):
    pdir = tmp_path / "profiles"
    pdir.mkdir()
    for name in PROFILES:
        (pdir / f"{name}.yaml").write_text(
            yaml.safe_dump(
                {
                    "common": {"lr": "fast", "synthetic": False},
                    "01_demo": {"epochs": 2.5, "lr": "0.001"},
                    "02_demo": {"epochs": "10"},
                }
            )
        )
    monkeypatch.setenv("DIVE_PROFILES_DIR", str(pdir))
    v = validate("01_demo", "quick", epochs=4)  # a good given value replaces the section's bad one
    assert (v["lr"], v["epochs"]) == (0.001, 4)  # the section's lr (a YAML string) wins over common's, converted
    with pytest.raises(ParameterError) as err:
        validate("02_demo", "quick")
    assert err.value.problems == [
        "lr = 'fast' (profile quick, common) in notebook 02_demo: expected a number > 0 " + "— lr: learning rate"
    ]
    with pytest.raises(ParameterError, match=r"epochs = 2.5 \(profile full, section 01_demo\) in notebook 01_demo"):
        validate("01_demo", "full")


# --- lossless conversions -------------------------------------------------------------------------


def test_lossless_conversions_are_accepted_and_converted():
    v = validate(
        NB02,
        "smoke",
        lr="0.001",
        epochs="5",
        batch_size=2.0,
        patience="2",
        train_size=64.0,
        synthetic="True",
        pretrained="false",
        optimizer="Adam",
        seeds="3",
        split_seed="7",
        deterministic="false",
        channels_last="auto",
        compile="True",
        precision="BF16",
    )
    expected = {
        "lr": 0.001,
        "epochs": 5,
        "batch_size": 2,
        "patience": 2,
        "train_size": 64,
        "synthetic": True,
        "pretrained": False,
        "optimizer": "adam",
        "seeds": 3,
        "split_seed": 7,
        "deterministic": False,
        "channels_last": "auto",
        "compile": True,
        "precision": "bf16",
    }
    assert {k: v[k] for k in expected} == expected
    for key in ("epochs", "batch_size", "patience", "train_size", "seeds", "split_seed"):
        assert type(v[key]) is int, key
    assert type(v["lr"]) is float and type(validate(NB02, "smoke", lr=1)["lr"]) is float


def test_lists_from_yaml_strings_and_scalars():
    v = validate(
        "01_mnist_simplecnn",
        "smoke",
        lr_grid="0.1, 0.01",
        batch_size_grid=[16, "32", 64.0],
        epochs_grid=3,
        seeds=[22, "23"],
        flags="pathmnist,bloodmnist",
        methods="saliency, gradcam",
    )
    assert v["lr_grid"] == [0.1, 0.01] and v["batch_size_grid"] == [16, 32, 64] and v["epochs_grid"] == [3]
    assert v["seeds"] == [22, 23] and v["flags"] == ["pathmnist", "bloodmnist"]
    assert v["methods"] == ["saliency", "gradcam"]
    assert validate(NB02, "smoke", flags="all")["flags"] == "all"
    assert validate(NB02, "smoke", pretrained="auto", ray_address=None)["pretrained"] == "auto"


def test_none_takes_the_profile_value_and_undeclared_names_pass_unchanged():
    v = validate(NB02, "smoke", lr=None, epochs=None, something_new=[1, "x"])
    assert (v["lr"], v["epochs"]) == (0.001, 2)
    assert v["something_new"] == [1, "x"]


# --- resolve: checked before any work ---------------------------------------------------------------


def test_resolve_fails_before_making_data_or_folders(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(profiles, "_ensure_synthetic", lambda root: made.append(root) or Path(root))
    with pytest.raises(ParameterError, match=r"lr = 'abc' \(given\) in notebook 02_pathmnist_simplecnn"):
        profiles.resolve(NB02, "smoke", lr="abc", out_dir=tmp_path / "out")
    assert made == [] and not (tmp_path / "out").exists() and not (tmp_path / "reports").exists()
    p = profiles.resolve(NB02, "smoke", lr="0.01", epochs="3", out_dir=tmp_path / "out")
    assert (p.lr, p.epochs) == (0.01, 3) and made and (tmp_path / "out").is_dir()


@pytest.mark.notebooks
def test_notebook_stops_in_its_resolve_cell_before_any_data_cell(tmp_path, monkeypatch):
    """papermill, as ``python -m dive.report --profile smoke --notebooks 02 -p lr abc`` runs it."""
    import papermill
    from jupyter_client.kernelspec import find_kernel_specs
    from papermill.exceptions import PapermillExecutionError

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("DIVE_QUIET", "1")
    src = NB_DIR / f"{NB02}.ipynb"
    dest = tmp_path / "executed.ipynb"
    kernel = "dive" if "dive" in find_kernel_specs() else "python3"
    with pytest.raises(PapermillExecutionError) as err:
        papermill.execute_notebook(
            str(src),
            str(dest),
            parameters={"profile": "smoke", "lr": "abc"},
            cwd=str(NB_DIR),
            kernel_name=kernel,
            progress_bar=False,
            log_output=False,
        )
    assert err.value.ename == "ParameterError"
    assert "lr = 'abc' (given) in notebook 02_pathmnist_simplecnn: expected a number > 0" in err.value.evalue
    cells = [c for c in json.loads(dest.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    failed = [i for i, c in enumerate(cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1
    stop = failed[0]
    # dive.notebook.setup checks every parameter first, then makes the outputs folder, then loads the data
    assert "setup(" in "".join(cells[stop]["source"]), "the notebook failed elsewhere than in its setup cell"
    later = cells[stop + 1 :]
    assert later and all(c.get("execution_count") is None for c in later), "cells after the setup cell ran"
    assert not (tmp_path / "reports").exists()  # no out_dir was made, so no data were loaded either
