"""python -m dive.report on tiny temporary projects: parameters, data preflight, kernels, assembly from a
Jinja2 template, and the PDF (WeasyPrint, read back with pypdf).

Tests marked ``notebooks`` execute small notebooks through papermill; the others run no kernel.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dive import profiles, utils
from dive.outputs import SYNTHETIC_LINE, Outputs
from dive.report import assembly, build, execute, layout, pdf, preflight

SECTIONS = ["1 Datasets", "2 Methods", "3 Experiments", "4 Claims and evidence", "5 Discussion"]

PARAMS_CELL = 'profile = "quick"\nepochs = None\nlr = None\ntag = "default"\n'

BODY = """
import json
import math
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from dive.outputs import Outputs
from dive.profiles import default_out_dir

out = Outputs(default_out_dir("{stem}", profile), notebook="{stem}", profile=profile, dataset="{dataset}",
              synthetic=True, device="cpu", seed=22)
out.note("note from {stem}")
out.table(pd.DataFrame({{"name": ["epochs", "lr", "tag"], "value": [repr(epochs), repr(lr), repr(tag)]}}),
          "injected", caption="Parameters of {stem}")
fig, ax = plt.subplots(figsize=(3, 2))
ax.plot([0, 1], [0.2, 0.9])
out.figure(fig, "curve", caption="Curve of {stem}")

class Fit:
    epochs_run, best_epoch = 2, 1
    history = [dict(epoch=e, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.6, lr=0.1, seconds=0.5)
               for e in (1, 2)]

out.add_run("run-{stem}", "simplecnn", {{"epochs": epochs, "lr": lr}}, fit=Fit(),
            val=dict(accuracy=0.6, precision=0.5, recall=0.5, f1=0.5, auc=0.7))
out.write()
"""


def write_notebook(path: Path, title: str, cells: list[str], kernel: str = "python3") -> Path:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3", "language": "python"}
    nb.cells = [new_markdown_cell(f"# {title}\n\nSome prose.")]
    for i, src in enumerate(cells):
        cell = new_code_cell(src)
        if i == 0:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def write_profiles(pdir: Path, quick: dict) -> None:
    pdir.mkdir(parents=True, exist_ok=True)
    (pdir / "quick.yaml").write_text(yaml.safe_dump(quick))
    for other in ("smoke", "full"):
        (pdir / f"{other}.yaml").write_text("common: {}\n")


def write_sections(nbdir: Path) -> None:
    (nbdir / "sections").mkdir(parents=True, exist_ok=True)
    (nbdir / "sections" / "methods.md").write_text("### 2.1 Our methods\n\nWe train **networks**.\n")
    (nbdir / "sections" / "discussion.md").write_text("### 4.1 What we learned\n\nNumbers come from the tables.\n")


def make_project(root: Path, failing: bool = False) -> dict:
    nbdir, pdir, reports = root / "notebooks", root / "profiles", root / "reports"
    nbdir.mkdir(parents=True)
    write_notebook(
        nbdir / "00_alpha.ipynb", "Alpha data sets", [PARAMS_CELL, BODY.format(stem="00_alpha", dataset="pathmnist")]
    )
    if failing:
        write_notebook(nbdir / "01_boom.ipynb", "Boom", [PARAMS_CELL, "x = 1", "raise ValueError('boom ' + str(x))"])
    else:
        write_notebook(
            nbdir / "01_beta.ipynb",
            "Beta experiment",
            [PARAMS_CELL, BODY.format(stem="01_beta", dataset="pneumoniamnist")],
            kernel="not-installed-kernel",
        )
    write_sections(nbdir)
    write_profiles(
        pdir,
        {
            "common": {"epochs": 3, "lr": 0.01, "not_a_parameter": 1},
            "00_alpha": {"epochs": 4},
            "01_beta": {"tag": "beta"},
        },
    )
    return {"nbdir": nbdir, "pdir": pdir, "reports": reports}


def cli(project: dict, *extra: str) -> list[str]:
    return [
        "--profile",
        "quick",
        "--notebooks-dir",
        str(project["nbdir"]),
        "--reports-dir",
        str(project["reports"]),
        "--profiles-dir",
        str(project["pdir"]),
        *extra,
    ]


def pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [re.sub(r"\s+", " ", page.extract_text() or "") for page in PdfReader(str(path)).pages]


# --- end to end on two tiny notebooks --------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("report"))
    rc = build.main(cli(project, "-p", "lr", "0.5", "--no-pdf", "--jobs", "2"))  # the two notebooks side by side
    assert rc == 0
    project["base"] = project["reports"] / "quick"
    return project


@pytest.mark.notebooks
def test_papermill_injects_profile_values_and_overrides(built):
    base = built["base"]
    params = {}
    for stem in ("00_alpha", "01_beta"):
        nb = json.loads((base / "executed" / f"{stem}.ipynb").read_text())
        params[stem] = nb["metadata"]["papermill"]["parameters"]
    assert params["00_alpha"] == {"profile": "quick", "epochs": 4, "lr": 0.5}  # section < -p; unknown keys not injected
    assert params["01_beta"] == {"profile": "quick", "epochs": 3, "lr": 0.5, "tag": "beta"}
    table = (base / "00_alpha" / "tables" / "injected.csv").read_text()
    assert "4" in table and "0.5" in table  # the notebook really saw them


@pytest.mark.notebooks
def test_html_per_notebook_and_report_sections(built):
    base = built["base"]
    for stem in ("00_alpha", "01_beta"):
        assert (base / "html" / f"{stem}.html").stat().st_size > 1000
        assert (base / stem / "metrics.json").is_file()
    page = (base / "report.html").read_text().replace("<wbr>", "")  # (break opportunities in table cells)
    for title in SECTIONS:
        assert f">{title}</h2>" in page
    assert "3.1 Beta experiment" in page and "Alpha data sets" in page
    assert "Our methods" in page and "What we learned" in page  # sections/*.md rendered
    assert page.count(SYNTHETIC_LINE) >= 4  # banner, running header, above every table
    assert 'class="banner"' in page and 'class="sticky-banner"' in page and 'class="running"' in page
    assert "dataset pneumoniamnist, not the report&#39;s pathmnist" in page
    assert page.count("data:image/png;base64,") == 2  # self-contained
    assert 'href="html/00_alpha.html"' in page and 'href="html/01_beta.html"' in page
    assert "note from 01_beta" in page and "Parameters of 00_alpha" in page and "run-01_beta" in page


@pytest.mark.notebooks
def test_pdf_pages_carry_banner_page_number_and_the_contents_page_numbers(built):
    pdf_path = build.render_pdf(built["base"] / "report.html")
    assert pdf_path == built["base"] / "report.pdf"
    pages = pdf_pages(pdf_path)
    assert len(pages) >= 4  # title + contents, one page per section
    for i, text in enumerate(pages, 1):
        assert "SYNTHETIC DATA" in text, f"page {i} has no banner"
        assert f"page {i} of {len(pages)}" in text
        assert "profile quick" in text  # the running header
    flat = " ".join(pages)
    for title in SECTIONS:
        assert title in flat
    # the table of contents gives the page each section starts on
    for title in ("3 Experiments", "4 Claims and evidence", "5 Discussion"):
        listed = int(re.search(rf"{title}[ .]+(\d+)", flat).group(1))
        assert re.search(rf"(^| ){title} ", pages[listed - 1]), (title, listed)
    layout = json.loads((built["base"] / "report.layout.json").read_text())
    assert layout["tables"] and all(t["overflow_px"] <= pdf.TOLERANCE_PX for t in layout["tables"])


@pytest.mark.notebooks
def test_main_builds_pdf_via_cli(built):
    (built["base"] / "report.pdf").unlink(missing_ok=True)
    record = (built["base"] / build.BUILD_RECORD).read_text()
    assert build.main(cli(built, "--no-execute")) == 0
    assert pdf_pages(built["base"] / "report.pdf")
    # build.json is the record of the last build that ran notebooks: a re-assembly leaves it as it was
    assert (built["base"] / build.BUILD_RECORD).read_text() == record


@pytest.mark.notebooks
def test_build_json_records_the_command_the_machine_each_notebooks_time_and_the_run_store(built):
    rec = json.loads((built["base"] / build.BUILD_RECORD).read_text())
    assert rec["command"][:3] == ["python", "-m", "dive.report"] and rec["command"][-6:] == [
        "-p",
        "lr",
        "0.5",
        "--no-pdf",
        "--jobs",
        "2",
    ]
    assert [n["notebook"] for n in sorted(rec["notebooks"], key=lambda n: n["notebook"])] == ["00_alpha", "01_beta"]
    assert all(n["seconds"] > 0 for n in rec["notebooks"]) and rec["jobs"] == 2
    assert rec["notebooks_seconds"] >= max(n["seconds"] for n in rec["notebooks"])
    assert rec["pdf_seconds"] is None  # --no-pdf
    assert rec["total_seconds"] == pytest.approx(rec["notebooks_seconds"] + rec["html_seconds"], abs=0.11)
    assert rec["machine"]["cpu"] and rec["machine"]["cores"] >= 1 and rec["machine"]["torch"]
    assert set(rec["machine"]["cpu_features"]) <= set(utils.CPU_FEATURES)
    assert rec["machine"]["cpu_id"] == utils.cpu_id()
    assert rec["run_store"] == str(profiles.run_store("quick", built["reports"]))
    assert rec["finished_runs_at_start"] == 0 and rec["started"] <= rec["finished"] and rec["complete"] is True


@pytest.mark.notebooks
def test_build_json_counts_the_finished_runs_the_store_began_with(tmp_path, monkeypatch):
    """A build that starts on a run store with finished runs says so: its time is not a first run's."""
    project = make_project(tmp_path)
    shared = tmp_path / "shared-store"
    for key in ("aaaa", "bbbb"):
        (shared / key).mkdir(parents=True)
        (shared / key / "result.pt").write_bytes(b"x")
    monkeypatch.setenv("DIVE_RUN_STORE", str(shared))
    assert build.main(cli(project, "--notebooks", "00", "--no-pdf")) == 0
    rec = json.loads((project["reports"] / "quick" / build.BUILD_RECORD).read_text())
    assert rec["finished_runs_at_start"] == 2 and rec["run_store"] == str(shared)
    assert rec["environment"]["DIVE_RUN_STORE"] == str(shared)
    assert [n["notebook"] for n in rec["notebooks"]] == ["00_alpha"]


@pytest.mark.notebooks
def test_chromium_engine_when_a_browser_is_there(built):
    try:
        pdf.find_browser()
    except pdf.BrowserNotFound as err:
        pytest.skip(str(err))
    out = pdf.render_pdf(built["base"] / "report.html", built["base"] / "chromium.pdf", engine="chromium", timeout=120)
    assert all("SYNTHETIC DATA" in p for p in pdf_pages(out))


@pytest.mark.notebooks
def test_no_pdf_engine_keeps_executed_notebooks_writes_html_and_says_what_to_install(tmp_path, monkeypatch, capsys):
    project = make_project(tmp_path)
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # `import weasyprint` fails, as without the package
    assert build.main(cli(project, "--notebooks", "00")) == 1
    err = capsys.readouterr().err
    base = project["reports"] / "quick"
    assert (base / "executed" / "00_alpha.ipynb").is_file()
    assert (base / "report.html").is_file() and not (base / "report.pdf").exists()
    (last,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "report.html is written, but no PDF" in last and "weasyprint==70.0" in last and "make setup" in last


@pytest.mark.notebooks
def test_failing_notebook_stops_with_message(tmp_path, capsys):
    project = make_project(tmp_path, failing=True)
    stale = project["reports"] / "quick" / build.BUILD_RECORD
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text('{"total_seconds": 1}')  # an earlier build's record
    rc = build.main(cli(project, "--no-pdf", "--jobs", "2"))  # 00 finishes beside the failing 01
    err = capsys.readouterr().err
    assert rc != 0
    # the old record no longer holds; the failed build's own says it did not finish, and which notebooks did
    rec = json.loads(stale.read_text())
    assert rec["complete"] is False and rec["finished"] is None and rec["html_seconds"] is None
    assert {n["notebook"] for n in rec["notebooks"]} <= {"00_alpha"}  # never the one that failed
    assert rec["pdf_seconds"] is None and rec["total_seconds"] >= sum(n["seconds"] for n in rec["notebooks"])
    assert "notebook 01_boom failed in cell 4: ValueError: boom 1" in err  # params, injected params, x = 1, raise
    executed = project["reports"] / "quick" / "executed"
    assert str(executed / "01_boom.ipynb") in err
    assert (executed / "00_alpha.ipynb").is_file()
    assert (project["reports"] / "quick" / "00_alpha" / "metrics.json").is_file()
    assert (executed / "01_boom.ipynb").is_file()
    assert not (project["reports"] / "quick" / "report.html").exists()


@pytest.mark.notebooks
def test_a_build_that_stops_midway_records_the_notebooks_it_finished(tmp_path, capsys):
    """One notebook at a time: 00 finishes, 01 fails. The record written after 00 stays: a build that fails or
    is killed after 50 minutes still says what ran and for how long, and that it did not finish."""
    project = make_project(tmp_path, failing=True)
    assert build.main(cli(project, "--no-pdf")) == 1
    rec = json.loads((project["reports"] / "quick" / build.BUILD_RECORD).read_text())
    assert rec["complete"] is False and rec["finished"] is None
    assert [n["notebook"] for n in rec["notebooks"]] == ["00_alpha"] and rec["notebooks"][0]["seconds"] > 0
    assert rec["finished_runs_at_start"] == 0 and rec["machine"]["cpu"]


# --- checks before any notebook runs (no kernel started) -------------------------------------------


def test_unknown_profile_engine_and_selection(tmp_path, capsys):
    assert build.main(["--profile", "fast", "--no-pdf"]) == 2
    assert "smoke, quick, full" in capsys.readouterr().err
    assert build.main(["--profile", "smoke", "--pdf-engine", "latex"]) == 2
    assert "weasyprint, chromium" in capsys.readouterr().err
    project = make_project(tmp_path)
    assert [p.stem for p in build.find_notebooks(project["nbdir"], ["01"])] == ["01_beta"]
    with pytest.raises(ValueError, match="00_alpha, 01_beta"):
        build.find_notebooks(project["nbdir"], ["07"])


def test_bad_data_flag_or_model_stops_before_running(tmp_path, capsys):
    project = make_project(tmp_path)
    assert build.main(cli(project, "-p", "data_flag", "cifar10", "--no-pdf")) == 1
    assert "valid data flags: mnist, pathmnist" in capsys.readouterr().err
    assert build.main(cli(project, "-p", "models", "[alexnet, vgg]", "--no-pdf")) == 1
    assert "valid models: simplecnn_v1, simplecnn, alexnet, resnet18" in capsys.readouterr().err
    assert not (project["reports"] / "quick" / "executed").exists()


def test_misspelt_parameter_stops_before_running(tmp_path, capsys):
    project = make_project(tmp_path)
    last = project["reports"] / "quick" / build.BUILD_RECORD
    last.parent.mkdir(parents=True)
    last.write_text('{"complete": true, "total_seconds": 2661.0}')  # the last build's record
    assert build.main(cli(project, "-p", "epoch", "5", "--no-pdf")) == 1
    err = capsys.readouterr().err
    assert "epoch" in err and "not defined by any of the notebooks" in err and "epochs, lr, profile, tag" in err
    assert not (project["reports"] / "quick" / "executed").exists()
    # stopped by its checks, the build ran nothing: the last build's record still describes the folder
    assert last.read_text() == '{"complete": true, "total_seconds": 2661.0}'


def test_every_parameter_problem_of_every_notebook_is_reported_at_once(tmp_path, capsys):
    project = make_project(tmp_path)
    assert build.main(cli(project, "-p", "lr", "-1", "-p", "epochs", "0", "-p", "epoch", "5", "--no-pdf")) == 1
    err = capsys.readouterr().err
    assert "5 problem(s) with the parameters of quick; no notebook was run" in err
    for stem in ("00_alpha", "01_beta"):  # dive.profiles.validate, for each notebook
        assert f"lr = -1 (given) in notebook {stem}: expected a number > 0" in err
        assert f"epochs = 0 (given) in notebook {stem}: expected an integer >= 1" in err
    assert "parameter(s) epoch are not defined by any of the notebooks run" in err
    assert not (project["reports"] / "quick" / "executed").exists()


def test_jobs_must_be_positive(tmp_path, capsys):
    project = make_project(tmp_path)
    assert build.main(cli(project, "--jobs", "0", "--no-pdf")) == 1
    assert "jobs must be at least 1, got 0" in capsys.readouterr().err
    assert not (project["reports"] / "quick" / "executed").exists()


def test_parse_value_like_papermill():
    assert build.parse_value("3") == 3 and build.parse_value("1e-3") == 0.001 and build.parse_value("0.5") == 0.5
    assert build.parse_value("True") is True and build.parse_value("None") is None
    assert build.parse_value("pneumoniamnist") == "pneumoniamnist" and build.parse_value("[a, b]") == ["a", "b"]


def test_no_browser_error_names_apt_package(monkeypatch):
    monkeypatch.delenv("DIVE_BROWSER", raising=False)
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    with pytest.raises(pdf.BrowserNotFound, match="apt-get install -y chromium"):
        pdf.find_browser()
    with pytest.raises(pdf.PdfEngineMissing, match="apt-get install -y chromium"):
        pdf.check_engine("chromium")


def test_kernel_is_the_notebooks_own_dive_with_a_stated_fallback(tmp_path, monkeypatch):
    nb = write_notebook(tmp_path / "00_k.ipynb", "K", ["x = 1"], kernel="dive")
    notes = []
    monkeypatch.setattr(execute, "_installed_kernels", lambda: {"dive", "python3"})
    assert execute.kernel_for(nb, warn=notes.append) == "dive" and notes == []
    assert execute.kernel_for(nb, "other", warn=notes.append) == "other"
    monkeypatch.setattr(execute, "_installed_kernels", lambda: {"python3"})
    assert execute.kernel_for(nb, warn=notes.append) == "python3"
    assert notes and "'dive'" in notes[0] and "not installed" in notes[0] and "make setup" in notes[0]
    monkeypatch.setattr(execute, "_installed_kernels", lambda: {"ir"})
    with pytest.raises(execute.KernelNotFound, match="make setup"):
        execute.kernel_for(nb)


# --- data preflight --------------------------------------------------------------------------------

LOADS_BOTH = 'from dive import data\nmnist = data.load("mnist", data_root)\nmed = data.load(data_flag, data_root)\n'
# the model's name through a variable: only the declaration (NOTEBOOK_MODELS) says which weights it needs
TRAINS_ALEXNET = (
    'from dive import experiment\nname = "alexnet"\nprint(experiment.describe_pretrained(name, pretrained))\n'
)


@pytest.fixture(autouse=True)
def declared_needs(monkeypatch):
    """What the preflight's test notebooks declare (dive.parameters): 00_data loads MNIST besides its data_flag,
    01_alex trains AlexNet."""
    from dive import parameters

    monkeypatch.setitem(parameters.NOTEBOOK_DATASETS, "00_data", ("mnist",))
    monkeypatch.setitem(parameters.NOTEBOOK_MODELS, "01_alex", ("alexnet",))


def data_project(root: Path) -> dict:
    """Two notebooks: one loads MNIST and the data_flag's MedMNIST file, one trains AlexNet on data_flag."""
    nbdir, pdir = root / "notebooks", root / "profiles"
    nbdir.mkdir(parents=True)
    params = 'profile = "quick"\ndata_root = None\ndata_flag = None\npretrained = None\n'
    write_notebook(nbdir / "00_data.ipynb", "Data", [params, LOADS_BOTH])
    write_notebook(
        nbdir / "01_alex.ipynb", "Alex", [params, "from dive import data\nd = data.load(data_flag)\n" + TRAINS_ALEXNET]
    )
    write_profiles(pdir, {"common": {"data_flag": "pathmnist", "pretrained": "auto"}})
    return {"nbdir": nbdir, "pdir": pdir, "reports": root / "reports"}


def plans_for(project: dict, **overrides) -> list:
    nbs = build.find_notebooks(project["nbdir"])
    return execute.plan_notebooks("quick", nbs, overrides=overrides, profiles_dir=project["pdir"])


def test_a_bad_dive_malloc_is_a_problem_before_any_notebook_runs(tmp_path, monkeypatch):
    project = data_project(tmp_path)
    assert plans_for(project)  # unset: fine
    monkeypatch.setenv("DIVE_MALLOC", "tcmalloc")
    with pytest.raises(profiles.ParameterError) as caught:
        plans_for(project, bogus=1)
    problems = caught.value.problems  # listed with the other problems, at once
    assert "$DIVE_MALLOC='tcmalloc' is not one of keep, system" in problems and len(problems) == 2, problems
    assert "bogus" in problems[0] and "no notebook was run" in str(caught.value)


def test_preflight_lists_every_missing_file_of_an_empty_root_at_once(tmp_path):
    from dive import data

    project = data_project(tmp_path)
    empty = tmp_path / "empty"
    with pytest.raises(preflight.PreflightError) as caught:
        preflight.check(plans_for(project, data_root=str(empty)))
    err = caught.value
    expected = data.files_for("mnist", empty) + data.files_for("pathmnist", empty)
    assert len(err.problems) == len(expected) == 5  # MNIST's four files and pathmnist.npz, each once
    text = str(err)
    for spec in expected:
        assert f"missing {spec.path}" in text and spec.url in text and spec.md5 in text
    assert "needed by: 00_data, 01_alex" in text  # pathmnist.npz: both notebooks
    assert "python -m dive.data pathmnist --root" in text


def test_preflight_names_a_corrupt_file_and_passes_a_complete_root(tmp_path, synthetic_root):
    project = data_project(tmp_path)
    root = tmp_path / "copy"
    shutil.copytree(synthetic_root, root)
    assert preflight.check(plans_for(project, data_root=str(root)))  # all present: nothing raised
    bad = root / "medmnist" / "pathmnist.npz"
    bad.write_bytes(b"not an npz file")
    with pytest.raises(preflight.PreflightError) as caught:
        preflight.check(plans_for(project, data_root=str(root)))
    (problem,) = caught.value.problems
    assert f"corrupt {bad}" in problem and "expected" in problem and "md5:" in problem


def test_preflight_requires_weights_only_when_pretrained_is_true(tmp_path, synthetic_root, monkeypatch):
    from dive.models import weights_cache_path, weights_url

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    project = data_project(tmp_path)
    assert preflight.check(plans_for(project, data_root=str(synthetic_root), pretrained="auto"))
    with pytest.raises(preflight.PreflightError) as caught:
        preflight.check(plans_for(project, data_root=str(synthetic_root), pretrained=True))
    (problem,) = caught.value.problems
    assert "alexnet ImageNet weights" in problem and weights_cache_path("alexnet") in problem
    assert weights_url("alexnet") in problem and "needed by: 01_alex" in problem


def test_preflight_reads_the_declaration_not_the_code(tmp_path, synthetic_root, monkeypatch):
    """A model named through a variable or a parameter is checked as declared; an undeclared one is not guessed."""
    from dive import parameters
    from dive.models import weights_cache_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    project = data_project(tmp_path)
    by_parameter = (
        "model = None\nfrom dive import experiment\nprint(experiment.describe_pretrained(model, pretrained))\n"
    )
    params = 'profile = "quick"\ndata_root = None\ndata_flag = None\npretrained = None\n'
    write_notebook(project["nbdir"] / "02_var.ipynb", "Var", [params + "model = None\n", by_parameter])
    write_profiles(project["pdir"], {"common": {"data_flag": "pathmnist"}, "02_var": {"model": "resnet18"}})
    with pytest.raises(preflight.PreflightError) as caught:
        preflight.check(plans_for(project, data_root=str(synthetic_root), pretrained=True))
    text = str(caught.value)
    assert weights_cache_path("resnet18") in text and "needed by: 02_var" in text  # the model parameter's value
    assert weights_cache_path("alexnet") in text and "needed by: 01_alex" in text  # NOTEBOOK_MODELS
    monkeypatch.delitem(parameters.NOTEBOOK_MODELS, "01_alex")  # undeclared: the code alone says nothing
    with pytest.raises(preflight.PreflightError) as caught:
        preflight.check(plans_for(project, data_root=str(synthetic_root), pretrained=True))
    assert weights_cache_path("alexnet") not in str(caught.value) and len(caught.value.problems) == 1


def test_every_real_notebook_declares_what_its_code_names(tmp_path):
    """The declarations cover the models and data sets the report's notebooks name literally (a guard that a new
    notebook, or a new model in one, is declared in dive.parameters)."""
    import json
    import re

    from dive import parameters
    from dive.models import MODELS

    literal = re.compile(r"""(?:describe_pretrained|config_for|build_model)\((?:\s*\w+,)?\s*["']([\w-]+)["']""")
    mnist = re.compile(r"""load\(\s*["']mnist["']|dataset=["']mnist["']""")
    nbs = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))
    assert len(nbs) >= 10
    for nb in nbs:
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        named = {m for m in literal.findall(code) if m in MODELS and MODELS[m].weights is not None}
        assert named <= set(parameters.notebook_models(nb.stem, {})), nb.name
        if mnist.search(code):
            assert "mnist" in parameters.notebook_datasets(nb.stem, {}, ()), nb.name


def test_synthetic_profile_without_data_root_needs_no_files(tmp_path):
    project = data_project(tmp_path)
    write_profiles(project["pdir"], {"common": {"data_flag": "pathmnist", "synthetic": True, "pretrained": False}})
    assert preflight.check(plans_for(project)) == []  # dive.synthetic writes the files when a notebook needs them


def test_main_stops_before_the_first_notebook_when_files_are_missing(tmp_path, capsys):
    project = data_project(tmp_path)
    assert build.main(cli(project, "-p", "data_root", str(tmp_path / "nothing"), "--no-pdf")) == 1
    err = capsys.readouterr().err
    assert "5 file(s) the notebooks need are missing or corrupt; nothing was run" in err
    assert len(re.findall(r": missing /", err)) == 5
    assert not (project["reports"] / "quick" / "executed").exists()


# --- assembly: any number of notebooks, tables that fit --------------------------------------------

WIDE = pd.DataFrame(
    {
        f"{name}_with_a_long_header_{i}": [
            f"value_{name}_{i}_{r}_unbroken" if i % 3 == 0 else 0.123456 * (r + i) for r in range(6)
        ]
        for i, name in enumerate(
            [
                "alpha",
                "beta",
                "gamma",
                "delta",
                "epsilon",
                "zeta",
                "eta",
                "theta",
                "iota",
                "kappa",
                "lambda",
                "mu",
                "nu",
                "xi",
            ]
        )
    }
)


def fake_notebook(nbdir: Path, reports: Path, stem: str, title: str, tables: dict | None = None) -> None:
    """A notebook file and the outputs it would have left, without running it."""
    write_notebook(nbdir / f"{stem}.ipynb", title, ['profile = "quick"'])
    out = Outputs(
        reports / "quick" / stem,
        notebook=stem,
        profile="quick",
        dataset="pathmnist",
        synthetic=True,
        device="cpu",
        seed=22,
    )
    for name, df in (tables or {}).items():
        out.table(df, name, caption=f"{name} of {stem}")
    out.write()


def test_sections_come_from_the_notebook_files_whatever_their_number(tmp_path):
    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    nbdir.mkdir()
    write_sections(nbdir)
    fake_notebook(nbdir, reports, "00_data", "The data")
    fake_notebook(nbdir, reports, "01_first", "First experiment")
    fake_notebook(nbdir, reports, "02_second", "Second experiment")
    fake_notebook(nbdir, reports, "09_medmnist_benchmark", "Beyond the report: every MedMNIST 2D dataset")
    write_notebook(nbdir / "10_explanations.ipynb", "Beyond the report: what the networks look at", ["x = 1"])
    write_notebook(nbdir / "_template.ipynb", "Template", ["x = 1"])
    page = assembly.assemble("quick", notebooks_dir=nbdir, reports_dir=reports).read_text()
    headings = re.findall(r"<h2 id=\"[^\"]+\"[^>]*>([^<]+)</h2>", page)
    assert headings == [
        "What holds up",  # the answer first, right after the title
        "1 Datasets",
        "2 Methods",
        "3 Experiments",
        "4 Claims and evidence",
        "5 Discussion",
        "6 Beyond the report: every MedMNIST 2D dataset",
        "7 Beyond the report: what the networks look at",
        "Appendix: all runs",
    ]
    assert "3.1 First experiment" in page and "3.2 Second experiment" in page
    assert "No results: not run." in page  # 10 has not run: said so in its section
    assert "_template" not in page and "Template" not in page
    assert 'href="#09_medmnist_benchmark"' in page  # in the table of contents


MEDIUM = pd.DataFrame({f"metric_number_{i}_of_the_run": [0.123456 * (r + i) for r in range(4)] for i in range(11)})


def test_wide_tables_fit_the_text_block_and_the_check_catches_one_that_does_not(tmp_path):
    from weasyprint import HTML

    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    nbdir.mkdir()
    write_sections(nbdir)
    tables = {"wide": WIDE, "medium": MEDIUM, "narrow": WIDE.iloc[:, :2]}
    fake_notebook(nbdir, reports, "00_data", "The data", tables)
    report = assembly.assemble("quick", notebooks_dir=nbdir, reports_dir=reports)
    pdf_path = pdf.render_pdf(report, log=lambda line: None)
    layout = json.loads(pdf_path.with_suffix(".layout.json").read_text())
    pages = {p["page"]: p for p in layout["pages"]}
    by_name = {}
    for t in layout["tables"]:
        by_name.setdefault(t["name"], []).append(t)
    assert {"Table 1 (wide)", "Table 2 (medium)", "Table 3 (narrow)"} <= set(by_name)
    assert [t for t in layout["tables"] if t["overflow_px"] > pdf.TOLERANCE_PX] == []
    for name in ("Table 1 (wide)", "Table 2 (medium)"):  # set to the full text width ...
        assert all(t["right"] - t["left"] > 0.95 * (t["text_right"] - t["text_left"]) for t in by_name[name])
    landscape = {
        name: {pages[t["page"]]["width"] > pages[t["page"]]["height"] for t in ts} for name, ts in by_name.items()
    }
    assert landscape["Table 1 (wide)"] == {True}  # ... on a landscape page when its entries need more room
    assert landscape["Table 2 (medium)"] == {False} and landscape["Table 3 (narrow)"] == {False}
    # the same table without the fitting CSS is wider than the page, and the measurement says so
    raw = WIDE.to_html(index=False)
    document = HTML(string=f"<style>@page {{ size: A4; margin: 16mm }}</style>{raw}").render()
    (over,) = pdf.overflows(document)
    assert over["overflow_px"] > 100


def test_column_widths_keep_numbers_whole():
    t = layout.Table.from_frame(MEDIUM)
    assert t.small and t.widths and not t.landscape and abs(sum(t.widths) - 100) < 0.1
    cols = [list(c) for c in zip(*t.rows, strict=True)]
    least, _ = layout.column_extents(t.columns, cols)
    assert all(n >= max(len(v) for v in col) for n, col in zip(least, cols, strict=True))  # no number is cut
    assert least == [7] * 11  # here the header's words decide: "metric" and "number", 6 letters + 1 (bold)
    assert layout.Table.from_frame(WIDE).landscape
    narrow = layout.Table.from_frame(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert narrow.widths is None and "fit" not in narrow.classes  # small tables keep their natural width
    assert layout.breakable("val_acc_(original)") == "val_<wbr>acc_<wbr>(original)"
    assert layout.breakable("0.1234") == "0.1234" and layout.breakable("<b>") == "&lt;b&gt;"


def test_kernel_threads_share_the_cores_out_between_notebooks_side_by_side(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(execute, "cpu_cores", lambda: 8)
    assert execute.kernel_threads(jobs=2) == 4
    assert execute.kernel_threads(jobs=3) == 2
    assert execute.kernel_threads(jobs=16) == 1  # never 0
    assert execute.kernel_threads(jobs=1) is None  # one notebook at a time: torch's default (every core)
    assert execute.kernel_threads(jobs=2, threads=3) == 3  # --threads wins
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert execute.kernel_threads(jobs=2) is None  # the user's own setting is kept
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads must be an integer >= 1"):
            execute.kernel_threads(jobs=2, threads=bad)


def test_kernel_env_sets_the_threads_and_restores_them(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    with execute.kernel_env(tmp_path, None, threads=1):
        assert os.environ["OMP_NUM_THREADS"] == "1"
    assert os.environ["OMP_NUM_THREADS"] == "7"
    with execute.kernel_env(tmp_path, None):
        assert os.environ["OMP_NUM_THREADS"] == "7"  # threads=None leaves it alone


@pytest.mark.notebooks
def test_threads_reach_the_kernels(tmp_path):
    """--threads 1 is what torch.get_num_threads() says inside the executed notebooks (read back from them)."""
    nb = tmp_path / "nb"
    nb.mkdir()
    write_profiles(nb / "profiles", {"common": {}})
    for stem in ("01_a", "02_b"):
        write_notebook(
            nb / f"{stem}.ipynb", stem, ['profile = "quick"', "import torch\nprint('threads', torch.get_num_threads())"]
        )
    done = execute.run_notebooks(
        "quick", notebooks_dir=nb, reports_dir=tmp_path / "r", jobs=2, threads=1, preflight=False, log=lambda _: None
    )
    for path in done:
        outputs = nbformat.read(path, as_version=4).cells[-1].outputs
        assert "threads 1" in "".join(o.get("text", "") for o in outputs), path.name


def test_one_local_ray_instance_for_the_whole_report(monkeypatch, capsys):
    """-p executor ray without an address: build starts one instance and hands its address to every notebook;
    with an address (or $RAY_ADDRESS, or another executor) nothing is started and the overrides stay as given."""
    from dive import executors

    calls = []

    class FakeRay:
        up = False

        def is_initialized(self):
            return self.up

        def shutdown(self):
            calls.append("shutdown")
            self.up = False

    fake = FakeRay()

    def start(**kw):
        calls.append("start")
        fake.up = True

    monkeypatch.setattr(executors, "_import_ray", lambda: fake)
    monkeypatch.setattr(executors, "start_local_ray", start)
    monkeypatch.setattr(executors, "current_address", lambda ray=None: "10.1.2.3:6379" if fake.up else None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for given in ({}, {"executor": "local"}, {"executor": "ray", "ray_address": "auto"}):
        with build.report_ray(given) as got:
            assert got == given
    assert calls == []
    with build.report_ray({"executor": "ray", "lr": 0.1}) as got:
        assert got == {"executor": "ray", "lr": 0.1, "ray_address": "10.1.2.3:6379"}
        assert calls == ["start"]
    assert calls == ["start", "shutdown"]  # the instance it started ends with the report
    assert "every notebook joins the local Ray instance at 10.1.2.3:6379 (started here)" in capsys.readouterr().out
    fake.up, calls[:] = True, []  # already connected (as in the tests): joined, not started, not shut down
    with build.report_ray({"executor": "ray"}) as got:
        assert got["ray_address"] == "10.1.2.3:6379"
    assert calls == []
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    with build.report_ray({"executor": "ray"}) as got:
        assert "ray_address" not in got  # the notebooks' run_many reads $RAY_ADDRESS itself


# --- the report as an answer: quiet build, appendix, "What holds up", forest figure ---------------------------


@pytest.mark.notebooks
def test_build_prints_one_line_per_notebook_and_no_kernel_transport_warning(tmp_path):
    """The command line as a user runs it (a subprocess: the kernels' own stderr is the terminal's): one
    line per notebook, a closing line, and not ipykernel's "running over TCP without encryption" (the
    kernels talk over IPC, :func:`dive.report.execute.kernel_transport`), nor papermill's "Passed unknown
    parameter" for an override that one notebook declares and the other does not (``-p tag``: 01_beta sets its
    own tag; each notebook is given only the parameters it declares)."""
    import subprocess

    project = make_project(tmp_path)
    write_notebook(  # 01_beta without ``tag`` among its parameters
        project["nbdir"] / "01_beta.ipynb",
        "Beta experiment",
        ['profile = "quick"\nepochs = None\nlr = None\n', 'tag = "own"\n' + BODY.format(stem="01_beta", dataset="x")],
        kernel="not-installed-kernel",
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(execute.REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "dive.report", *cli(project, "--no-pdf", "-p", "tag", "from-cli")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out, err = proc.stdout.splitlines(), proc.stderr.splitlines()
    assert not [line for line in out + err if "without encryption" in line]
    assert [re.sub(r"[\d.]+ s$", "", line) for line in out[:2]] == [
        "[1/2] 00_alpha (quick): running ... done in ",
        "[2/2] 01_beta (quick): running ... done in ",
    ]
    assert len(out) == 3 and out[2].startswith("notebooks: 2 in ")
    assert err == [line for line in err if "not-installed-kernel" in line]  # only the note on 01_beta's kernel
    assert execute.kernel_transport() == ("tcp" if os.name == "nt" else "ipc")
    executed = project["reports"] / "quick" / "executed"
    assert assembly.injected_parameters(executed / "00_alpha.ipynb")["tag"] == "from-cli"  # where it is declared
    assert "tag" not in assembly.injected_parameters(executed / "01_beta.ipynb")  # and only there


def seeded_groups(out: Outputs, values: dict[str, list[float]], metric: str = "val_accuracy") -> None:
    for name, vals in values.items():
        out.add_group(name, values=pd.DataFrame({"seed": range(22, 22 + len(vals)), metric: vals}))


def test_long_and_per_seed_tables_go_to_the_appendix_linked_from_their_chapter(tmp_path):
    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    nbdir.mkdir()
    write_sections(nbdir)
    short = pd.DataFrame({"config": list("abcde"), "val_acc": [0.1, 0.2, 0.3, 0.4, 0.5]})
    long = pd.DataFrame({"seed": range(layout.CHAPTER_ROWS + 5), "val_acc": 0.5})
    per_seed = short.head(3)
    fake_notebook(nbdir, reports, "01_first", "First", {"result": short, "everything": long, "x_per_seed": per_seed})
    page = assembly.assemble("quick", notebooks_dir=nbdir, reports_dir=reports).read_text()
    chapter = page[page.index('id="experiments"') : page.index('id="claims"')]
    appendix = page[page.index('id="all-runs"') :]
    assert "Table 1</b>: result of 01_first" in chapter  # the result table stays in its chapter ...
    assert "everything" not in chapter and "x_per_seed" not in chapter
    assert "Table A1</b>: everything of 01_first" in appendix and "Table A2</b>: x_per_seed of 01_first" in appendix
    assert 'href="#runs-01_first"' in chapter and 'id="runs-01_first"' in appendix  # ... linked to the rest
    assert "Table A1, Table A2" in chapter
    for body in re.findall(r"<tbody>(.*?)</tbody>", chapter, flags=re.S):
        assert body.count("<tr") <= layout.CHAPTER_ROWS
    toc = page[page.index('<nav class="toc">') : page.index("</nav>")]
    assert '<ul class="toc-appendix">' in toc and 'href="#runs-01_first"' in toc  # the appendix apart


def test_secondary_figures_long_notes_and_wordy_tables_go_to_the_appendix(tmp_path):
    """A chapter keeps the original report's figures (fig<N>_...) and its other figures while they fit
    CHAPTER_FIGURE_CM of printed height, its first notes, and its tables of short cells; the rest is in the
    appendix, linked from the chapter, and nothing is lost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    nbdir.mkdir()
    write_sections(nbdir)
    stem = "04_alexnet_balancing"
    write_notebook(nbdir / f"{stem}.ipynb", "AlexNet and class balancing", ['profile = "quick"'])
    out = Outputs(
        reports / "quick" / stem,
        notebook=stem,
        profile="quick",
        dataset="pathmnist",
        synthetic=True,
        device="cpu",
        seed=22,
    )
    wordy = pd.DataFrame(
        {"data set": [f"set{i}" for i in range(10)], "status": ["not available: place " + "x" * 200] * 10}
    )
    assert len(wordy) <= layout.CHAPTER_ROWS and layout.table_chars(wordy) > layout.CHAPTER_CHARS
    out.table(pd.DataFrame({"balancing": [True, False], "val_acc": [0.8, 0.7]}), "table1_balancing", caption="t1")
    out.table(wordy, "availability", caption="which data sets are there")
    for n in range(12):
        out.note(f"note {n:02d}: " + "y" * 150)
    names = ["curves_a", "fig09_confusion", "curves_b", "curves_c", "curves_d"]  # 2.7 : 1, each 6.5 cm printed
    for name in names:
        fig, ax = plt.subplots(figsize=(8.1, 3.0))
        ax.plot([0, 1], [0, 1])
        out.figure(fig, name, caption=f"caption of {name}")
        plt.close(fig)
    out.write()
    page = assembly.assemble("quick", notebooks_dir=nbdir, reports_dir=reports).read_text()
    chapter = page[page.index('id="experiments"') : page.index('id="claims"')]
    appendix = page[page.index(f'id="runs-{stem}"') :]
    shown = [n for n in names if f'alt="{n}"' in chapter]
    moved = [n for n in names if f'alt="{n}"' in appendix]
    # the report's figure stays (6.5 cm); a second 6.5 cm does not fit CHAPTER_FIGURE_CM: from there on, the appendix
    assert layout.FIGURE_CM <= layout.CHAPTER_FIGURE_CM < 2 * layout.FIGURE_CM
    assert shown == ["fig09_confusion"] and moved == ["curves_a", "curves_b", "curves_c", "curves_d"]
    assert "Figure A1</b>: caption of curves_a" in appendix and "Figure A1, Figure A2, Figure A3, Figure A4" in chapter
    notes_shown = re.findall(r"note (\d\d):", chapter)
    assert notes_shown and len(notes_shown) <= layout.CHAPTER_NOTES
    assert re.findall(r"note (\d\d):", appendix) == [f"{n:02d}" for n in range(len(notes_shown), 12)]
    assert "which data sets are there" in appendix and "which data sets are there" not in chapter
    assert "t1" in chapter and f'href="#runs-{stem}"' in chapter


def balancing_project(tmp_path: Path, balanced: list[float], unbalanced: list[float]) -> tuple[Path, Path]:
    """Notebook 04's outputs with the four groups of its two claims (early stopping: the same values + 1 point)."""
    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    nbdir.mkdir()
    write_sections(nbdir)
    stem = "04_alexnet_balancing"
    write_notebook(nbdir / f"{stem}.ipynb", "AlexNet and class balancing", ['profile = "quick"'])
    out = Outputs(
        reports / "quick" / stem,
        notebook=stem,
        profile="quick",
        dataset="pathmnist",
        synthetic=True,
        device="cpu",
        seed=22,
    )
    out.table(pd.DataFrame({"balancing": [True, False], "val_acc": [0.8, 0.75]}), "table1_balancing")
    seeded_groups(
        out,
        {
            "alexnet_balanced_fixed": balanced,
            "alexnet_unbalanced_fixed": unbalanced,
            "alexnet_balanced_early_stopping": [v + 0.01 for v in balanced],
            "alexnet_unbalanced_early_stopping": [v + 0.01 for v in unbalanced],
        },
    )
    out.write()
    return nbdir, reports


def test_what_holds_up_lines_forest_and_claims_table_agree(tmp_path):
    """Balancing helps by about 5 points in every seed: both balancing claims are supported; every other claim
    has not run. The page's lines, its forest figure (forest.csv, one row per comparison) and the Claims table
    say the same, with the configurations in words and the group ids only in the appendix."""
    from dive import claims
    from dive.report import claims_page

    nbdir, reports = balancing_project(tmp_path, [0.80, 0.83, 0.81, 0.84], [0.75, 0.77, 0.76, 0.80])
    page = assembly.assemble("quick", notebooks_dir=nbdir, reports_dir=reports).read_text()
    table = claims.claims_table(reports, "quick")
    lines, _ = claims_page.claim_evidence(reports, "quick")
    assert [line.claim for line in lines] == list(table["claim"])
    holds = page[page.index('id="what-holds-up"') : page.index('<nav class="toc">')]
    assert page.index('id="what-holds-up"') < page.index('id="datasets"')
    rows = re.findall(r'<tr class="claim-line ([^"]+)" data-claim="([^"]+)"><td class="verdict">(.*?)</td>', holds)
    assert [r[1] for r in rows] == [c.id for c in claims.CLAIMS]  # one line per claim, in order
    for (css, cid, cell), holds_text in zip(rows, table["holds"], strict=True):
        word = claims_page.verdict_word(holds_text)[0]
        mark, expected_css = claims_page.MARKS[word]
        assert f'<span class="mark">{mark}</span> {word}' in cell and css == expected_css, cid
    verdicts = dict(zip(table["notebook"] + ":" + table["claim"], table["holds"], strict=True))
    assert [v for k, v in verdicts.items() if k.startswith("04_")] == ["supported", "supported"]
    assert (
        f"2 supported and {len(claims.CLAIMS) - 2} not run" in holds
        and "Holding up: Balancing improves AlexNet" in holds
    )
    forest = pd.read_csv(reports / "quick" / "claims" / "forest.csv")
    assert len(forest) == 2 and 'data-rows="2"' in holds  # one row per comparison that has data
    diffs = table.loc[table["notebook"] == "04_alexnet_balancing", "difference [tested interval]"]
    for r, text in zip(forest.itertuples(), diffs, strict=True):
        assert r.text == text and f"{r.diff:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}]" == text
        assert r.verdict == "supported" and r.label.startswith("balanced, ")
        assert r.interval == "97.50% (Holm level 0.025 of 2)" and r.lo > 0  # the family of 2: at Holm's levels
    assert forest["report_diff"].round(2).tolist() == [5.47, 2.24]  # the report's single-run differences
    for ext in ("png", "svg"):
        assert (reports / "quick" / "claims" / f"forest.{ext}").stat().st_size > 1000
    claims_part = page[page.index('id="claims"') : page.index('id="discussion"')]
    assert "balanced, fixed epochs" in claims_part and "alexnet_balanced_fixed" not in claims_part
    details = page[page.index('id="claims-details"') :]
    assert "alexnet_balanced_fixed" in details.replace("<wbr>", "")  # the group ids: in the appendix


def test_a_claim_within_noise_and_a_contradicted_one_read_so_in_words_and_marks(tmp_path):
    nbdir, reports = balancing_project(tmp_path, [0.70, 0.71, 0.69, 0.70], [0.80, 0.82, 0.81, 0.80])
    page = assembly.assemble("quick", notebooks_dir=nbdir, reports_dir=reports).read_text()
    assert page.count('class="claim-line v-contradicted"') == 2
    assert "Contradicted by this run: Balancing improves AlexNet" in page


def test_forest_and_dot_interval_figures_draw_one_row_each():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PolyCollection

    from dive import plots

    rows = pd.DataFrame(
        {
            "claim": ["A beats B", "A beats B", "no difference (x)", "lower loss"],
            "label": ["a vs b", "a vs c", "x vs y", "p vs q"],
            "unit": ["accuracy points"] * 3 + ["val loss"],
            "higher_is_better": [True, True, True, False],
            "diff": [2.0, 1.0, 0.1, -0.01],
            "lo": [1.0, -1.0, -0.2, float("nan")],
            "hi": [3.0, 3.0, 0.4, float("nan")],
            "verdict": ["supported", "not supported", "equivalent", "cannot tell"],
            "margin": [None, None, 0.5, None],
            "report_diff": [5.0, None, 0.0, -0.02],
        }
    )
    fig = plots.forest(rows, marks={"supported": "S"})
    acc, loss = fig.axes
    assert [t.get_text() for t in acc.get_yticklabels()] == [
        "A beats B\na vs b",
        "A beats B\na vs c",
        "no difference\nx vs y",
    ]
    assert len(loss.get_yticks()) == 1 and "< 0" in loss.get_xlabel()
    assert len([c for c in acc.collections if isinstance(c, PolyCollection)]) == 1  # the one margin, shaded
    assert sum(1 for line in acc.lines if line.get_marker() == "^") == 2  # the report's differences that exist
    with pytest.raises(ValueError, match="at least one"):
        plots.forest(rows.iloc[:0])
    dots = plots.dot_interval(
        pd.DataFrame(
            {
                "label": ["a", "b"],
                "mean": [90.0, 80.0],
                "lo": [88.0, float("nan")],
                "hi": [92.0, float("nan")],
                "original": [91.0, float("nan")],
                "n": [3, 1],
            }
        )
    )
    assert [t.get_text() for t in dots.axes[0].get_yticklabels()] == ["a (n=3)", "b (n=1)"]


def test_a_no_difference_claim_gets_its_equivalence_margin_in_the_forest_rows(tmp_path):
    """Notebook 06's "batch norm changes nothing" on MedMNIST data: its forest row carries the margin of
    dive.reference (1 point, in the figure's accuracy points); the directional claims carry none."""
    from dive import reference
    from dive.report import claims_page

    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    nbdir.mkdir()
    write_sections(nbdir)
    stem = "06_alexnet_batchnorm"
    write_notebook(nbdir / f"{stem}.ipynb", "AlexNet with batch normalisation", ['profile = "quick"'])
    out = Outputs(
        reports / "quick" / stem,
        notebook=stem,
        profile="quick",
        dataset="pathmnist",
        synthetic=True,
        device="cpu",
        seed=22,
    )
    seeded_groups(out, {"alexnet_model2_batchnorm": [0.80, 0.81, 0.80], "alexnet_model1_plain": [0.80, 0.80, 0.81]})
    out.write()
    lines, _ = claims_page.claim_evidence(reports, "quick")
    (row,) = [c for line in lines for c in line.comparisons]
    margin = reference.EQUIVALENCE_MARGINS["medmnist"]
    assert margin == pytest.approx(0.01)  # MedMNIST: one accuracy point
    assert row.claim_id == "batchnorm" and row.margin == pytest.approx(100 * margin)
    assert row.label == "with batch norm vs without batch norm"


def _kernel_manager(tmp_path):
    from jupyter_client.kernelspec import NATIVE_KERNEL_NAME

    config = execute.kernel_config()
    km = config.NotebookClient.kernel_manager_class(kernel_name=NATIVE_KERNEL_NAME, config=config)
    signals = []
    send = km._async_signal_kernel

    async def recording(signum):
        signals.append(signum)
        await send(signum)

    km._async_signal_kernel = recording
    return km, signals


@pytest.mark.notebooks
def test_a_finished_kernel_is_stopped_without_sigint(tmp_path):
    """The kernel of a notebook that has finished is stopped by the shutdown request, not by SIGINT (which,
    landing while ipykernel closes the last cell's handler, printed "KeyboardInterrupt caught in kernel." under
    a green build)."""
    import asyncio
    import signal

    km, signals = _kernel_manager(tmp_path)

    async def go():
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        reply = await kc.execute_interactive("x = 1")
        assert reply["content"]["status"] == "ok"
        kc.stop_channels()
        await km.shutdown_kernel()
        return await km.is_alive()

    assert asyncio.run(go()) is False
    assert signal.SIGINT not in signals


@pytest.mark.notebooks
def test_a_kernel_still_busy_at_shutdown_is_still_stopped(tmp_path):
    """Where dropping the SIGINT must not matter: a cell that never returns (a timed-out notebook) still has its
    kernel ended, by jupyter_client's SIGTERM/SIGKILL within ``shutdown_wait_time``."""
    import asyncio
    import signal

    km, signals = _kernel_manager(tmp_path)
    km.shutdown_wait_time = 2.0

    async def go():
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        kc.execute("import time\nwhile True: time.sleep(0.05)")
        await asyncio.sleep(1.0)
        kc.stop_channels()
        started = time.monotonic()
        await km.shutdown_kernel()
        return await km.is_alive(), time.monotonic() - started

    alive, took = asyncio.run(go())
    assert alive is False and took < 30
    assert signal.SIGINT not in signals


def _family_project(tmp_path: Path) -> tuple[Path, Path]:
    """Notebooks 01 and 04 with four seeds, one Holm family of 4 directional comparisons: learning rate 0.001
    beats 0.1 clearly and 0.01 narrowly (p = 0.04 on its own, ranked third of 4: Holm level 0.025, not rejected);
    balancing wins with fixed epochs and is noise with early stopping; batch size makes no difference (tight
    values) and the activation compares noisy groups."""
    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    nbdir.mkdir()
    write_sections(nbdir)
    values = {
        "01_mnist_simplecnn": {
            "table5_learning_rate_0.001": [0.990, 0.988, 0.991, 0.989],
            "table5_learning_rate_0.01": [0.985, 0.985, 0.983, 0.987],  # +0.5, +0.3, +0.8, +0.2 points
            "table5_learning_rate_0.1": [0.10, 0.11, 0.12, 0.10],
            "table5_batch_size_32": [0.9890, 0.9885, 0.9892, 0.9880],
            "table5_batch_size_16": [0.9888, 0.9889, 0.9890, 0.9883],
            "table5_batch_size_64": [0.9893, 0.9882, 0.9889, 0.9885],
            "activation_leaky_relu": [0.980, 0.990, 0.970, 0.985],
            "activation_relu": [0.985, 0.975, 0.990, 0.980],
        },
        "04_alexnet_balancing": {
            "alexnet_balanced_fixed": [0.80, 0.83, 0.81, 0.84],
            "alexnet_unbalanced_fixed": [0.75, 0.77, 0.76, 0.80],
            "alexnet_balanced_early_stopping": [0.80, 0.78, 0.82, 0.79],
            "alexnet_unbalanced_early_stopping": [0.79, 0.80, 0.78, 0.81],
        },
    }
    for stem, groups in values.items():
        write_notebook(nbdir / f"{stem}.ipynb", stem, ['profile = "quick"'])
        out = Outputs(
            reports / "quick" / stem,
            notebook=stem,
            profile="quick",
            dataset="mnist" if stem.startswith("01") else "pathmnist",
            synthetic=True,
            device="cpu",
            seed=22,
        )
        seeded_groups(out, groups)
        out.write()
    return nbdir, reports


def test_forest_intervals_are_the_ones_the_family_corrected_verdicts_rest_on(tmp_path):
    """Each row of the forest figure: its interval leaves out 0 exactly when the comparison's family-corrected
    (Holm) verdict gives a direction, and for a claim of no difference it lies inside the margin exactly when the
    comparison is equivalent; the row's text is the readable Claims table's. A comparison whose own p is below
    0.05 but not below its Holm level must show an interval with 0 in it."""
    import math

    from dive import claims, stats
    from dive.report import claims_page

    nbdir, reports = _family_project(tmp_path)
    page = assembly.assemble("quick", notebooks_dir=nbdir, reports_dir=reports).read_text()
    table = claims.claims_table(reports, "quick")
    forest = pd.read_csv(reports / "quick" / "claims" / "forest.csv")
    by_id = {c.id: c for c in claims.CLAIMS}
    assert len(forest) == len(table.attrs["comparisons"]) == 7
    directional = [r for r in forest.itertuples() if by_id[r.claim_id].expected == stats.A_BETTER]
    assert len(directional) == table.attrs["family"] == 4  # lr (2) and balancing (1 + 1): one Holm family
    raw = {}
    for r in forest.itertuples():
        claim = by_id[r.claim_id]
        assert not math.isnan(r.lo) and not math.isnan(r.hi), r.label
        if claim.expected == stats.A_BETTER:
            excludes_zero = r.lo > 0 or r.hi < 0
            assert excludes_zero == (r.test in (stats.A_BETTER, stats.B_BETTER)), r.label
            raw[r.b] = stats.compare(
                *(claims._per_seed(g, claim.metric) for g in _groups(reports, claim.notebook, r.a, r.b))
            )
        else:
            margin = r.margin
            assert (-margin < r.lo and r.hi < margin) == (r.test == stats.EQUIVALENT), r.label
            assert r.interval == "90% (TOST)"
        rows = table[table["claim"] == claim.text]["difference [tested interval]"].iloc[0]
        assert r.text == rows or f"vs {r.b}: {r.text}" in rows
    # learning rate 0.01: p < 0.05 on its own (its 95 % interval leaves out 0), yet Holm does not reject it
    narrow = raw["table5_learning_rate_0.01"]
    assert narrow.p_value < 0.05 and narrow.ci_low > 0
    (row,) = [r for r in directional if r.b == "table5_learning_rate_0.01"]
    assert row.lo <= 0 <= row.hi and row.test == stats.WITHIN_NOISE
    assert {r.test for r in directional} >= {stats.A_BETTER, stats.WITHIN_NOISE}
    # the claim verdicts agree with the rows: supported exactly when every row of the claim shows A better
    lines, _ = claims_page.claim_evidence(reports, "quick")
    for line in lines:
        if line.comparisons and by_id[line.id].expected == stats.A_BETTER:
            assert (line.verdict == "supported") == all(c.lo > 0 for c in line.comparisons), line.id
    claims_part = page[page.index('id="claims"') : page.index('id="discussion"')]
    assert "difference A - B [tested interval]" in claims_part and "Holm level" in claims_part


def _groups(reports: Path, notebook: str, *names: str) -> list[dict]:
    groups = {g["name"]: g for g in json.loads((reports / "quick" / notebook / "metrics.json").read_text())["groups"]}
    return [groups[n] for n in names]


def test_forest_draws_an_interval_without_bound_to_the_panel_edge():
    import matplotlib

    matplotlib.use("Agg")
    from dive import plots

    rows = pd.DataFrame(
        {
            "claim": ["a", "b"],
            "label": ["x vs y", "p vs q"],
            "unit": ["accuracy points"] * 2,
            "higher_is_better": [True, True],
            "diff": [5.0, 1.0],
            "lo": [-math.inf, 0.5],
            "hi": [math.inf, 1.5],
            "verdict": ["cannot tell", "supported"],
            "report_diff": [None, 90.0],  # far beyond this run's evidence: at the edge, with its value
        }
    )
    fig = plots.forest(rows, interval_label="tested interval")
    (ax,) = fig.axes
    left, right = ax.get_xlim()
    assert math.isfinite(left) and math.isfinite(right) and left < 0.5 and right > 5.0
    dotted = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
    assert len(dotted) == 1 and list(dotted[0].get_xdata()) == [left, right]
    assert [t.get_text() for t in fig.legends[0].get_texts()][0] == "tested interval"
    assert right < 90 and [t.get_text() for t in ax.texts] == ["+90"]
    (report,) = [ln for ln in ax.lines if ln.get_marker() == "^"]
    assert list(report.get_xdata()) == [right]


def test_the_report_injects_a_data_sets_section_only_on_that_data_set(tmp_path, capsys):
    """papermill gets what resolve would give: a ``<notebook>@<flag>`` section's values when the run's data_flag is
    that flag (else the injected notebook values would override the section as "given"), never on another flag or
    for another notebook; such a section is no "matches no notebook" warning."""
    project = data_project(tmp_path)
    write_profiles(
        project["pdir"],
        {"common": {"data_flag": "pathmnist", "pretrained": "auto"}, "01_alex@breastmnist": {"pretrained": False}},
    )
    plans = {p.src.stem: p for p in plans_for(project, data_flag="breastmnist")}
    assert plans["01_alex"].values["pretrained"] is False and plans["01_alex"].effective["pretrained"] is False
    assert plans["00_data"].values["pretrained"] == "auto"
    plans = {p.src.stem: p for p in plans_for(project, data_flag="pneumoniamnist")}
    assert plans["01_alex"].values["pretrained"] == "auto"
    assert "matches no notebook" not in capsys.readouterr().err
