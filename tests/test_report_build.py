"""python -m dive.report end to end on tiny temporary notebooks (papermill, nbconvert, Chromium)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dive.report import build

pytestmark = pytest.mark.notebooks

SECTIONS = ["1 Datasets", "2 Methods", "3 Experiments", "4 Discussion"]

PARAMS_CELL = 'profile = "quick"\nepochs = None\nlr = None\ntag = "default"\n'

BODY = '''
import json
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
    history = [dict(epoch=e, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.6, lr=0.1, seconds=0.5) for e in (1, 2)]

out.add_run("run-{stem}", "simplecnn", {{"epochs": epochs, "lr": lr}}, fit=Fit(),
            val=dict(accuracy=0.6, precision=0.5, recall=0.5, f1=0.5, auc=0.7))
out.write()
'''


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


def make_project(root: Path, failing: bool = False) -> dict:
    nbdir, pdir, reports = root / "notebooks", root / "profiles", root / "reports"
    nbdir.mkdir(parents=True)
    pdir.mkdir()
    write_notebook(nbdir / "00_alpha.ipynb", "Alpha data sets", [PARAMS_CELL, BODY.format(stem="00_alpha", dataset="pathmnist")])
    if failing:
        write_notebook(nbdir / "01_boom.ipynb", "Boom", [PARAMS_CELL, "x = 1", "raise ValueError('boom ' + str(x))"])
    else:
        write_notebook(nbdir / "01_beta.ipynb", "Beta experiment",
                       [PARAMS_CELL, BODY.format(stem="01_beta", dataset="pneumoniamnist")], kernel="not-installed-kernel")
    (nbdir / "sections").mkdir()
    (nbdir / "sections" / "methods.md").write_text("### 2.1 Our methods\n\nWe train **networks**.\n")
    (nbdir / "sections" / "discussion.md").write_text("### 4.1 What we learned\n\nNumbers come from the tables.\n")
    quick = {"common": {"epochs": 3, "lr": 0.01, "not_a_parameter": 1}, "00_alpha": {"epochs": 4}, "01_beta": {"tag": "beta"}}
    (pdir / "quick.yaml").write_text(yaml.safe_dump(quick))
    for other in ("smoke", "full"):
        (pdir / f"{other}.yaml").write_text("common: {}\n")
    return {"nbdir": nbdir, "pdir": pdir, "reports": reports}


def cli(project: dict, *extra: str) -> list[str]:
    return ["--profile", "quick", "--notebooks-dir", str(project["nbdir"]), "--reports-dir", str(project["reports"]),
            "--profiles-dir", str(project["pdir"]), *extra]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("report"))
    rc = build.main(cli(project, "-p", "lr", "0.5", "--no-pdf"))
    assert rc == 0
    project["base"] = project["reports"] / "quick"
    return project


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


def test_html_per_notebook_and_report_sections(built):
    base = built["base"]
    for stem in ("00_alpha", "01_beta"):
        assert (base / "html" / f"{stem}.html").stat().st_size > 1000
        assert (base / stem / "metrics.json").is_file()
    page = (base / "report.html").read_text()
    for title in SECTIONS:
        assert f">{title}</h2>" in page
    assert "3.1 Beta experiment" in page and "Alpha data sets" in page
    assert "Our methods" in page and "What we learned" in page  # sections/*.md rendered
    assert page.count("SYNTHETIC DATA — not comparable with the original report") >= 4  # banners, page header, tables
    assert 'class="banner"' in page and 'class="sticky-banner"' in page and "@top-center" in page  # top + every page
    assert "dataset pneumoniamnist, not the report&#x27;s pathmnist" in page
    assert page.count("data:image/png;base64,") == 2  # self-contained
    assert 'href="html/00_alpha.html"' in page and 'href="html/01_beta.html"' in page
    assert "note from 01_beta" in page and "Parameters of 00_alpha" in page and "run-01_beta" in page


def test_pdf_has_pages_and_every_section(built):
    try:
        build.find_browser()
    except build.BrowserNotFound as err:
        pytest.skip(str(err))
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext missing: apt-get install -y poppler-utils")
    pdf = build.render_pdf(built["base"] / "report.html", timeout=120)
    assert pdf == built["base"] / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout if shutil.which("pdfinfo") else ""
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1)) if info else len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert pages >= 1
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", " ", text)
    for title in SECTIONS:
        assert title in flat
    # the synthetic banner is printed on every page
    per_page = [re.sub(r"\s+", " ", p) for p in text.split("\f") if p.strip()]
    assert len(per_page) == pages and all("SYNTHETIC DATA" in p for p in per_page)


def test_main_builds_pdf_via_cli(built, capsys):
    try:
        build.find_browser()
    except build.BrowserNotFound as err:
        pytest.skip(str(err))
    assert build.main(cli(built, "--no-execute")) == 0
    assert (built["base"] / "report.pdf").stat().st_size > 0


def test_failing_notebook_stops_with_message(tmp_path, capsys):
    project = make_project(tmp_path, failing=True)
    rc = build.main(cli(project, "--no-pdf"))
    err = capsys.readouterr().err
    assert rc != 0
    assert "notebook 01_boom failed in cell 4: ValueError: boom 1" in err  # execution count: params, injected params, x = 1, raise
    executed = project["reports"] / "quick" / "executed"
    assert str(executed / "01_boom.ipynb") in err
    assert (executed / "00_alpha.ipynb").is_file() and (project["reports"] / "quick" / "00_alpha" / "metrics.json").is_file()
    assert (executed / "01_boom.ipynb").is_file()
    assert not (project["reports"] / "quick" / "report.html").exists()


def test_unknown_profile_and_selection(tmp_path, capsys):
    assert build.main(["--profile", "fast", "--no-pdf"]) == 2
    assert "smoke, quick, full" in capsys.readouterr().err
    project = make_project(tmp_path)
    assert [p.stem for p in build.find_notebooks(project["nbdir"], ["01"])] == ["01_beta"]
    with pytest.raises(ValueError, match="00_alpha, 01_beta"):
        build.find_notebooks(project["nbdir"], ["07"])


def test_bad_data_flag_or_model_stops_before_running(tmp_path, capsys, monkeypatch):
    from dive import profiles

    monkeypatch.setattr(profiles, "_datasets", lambda: ("mnist", "pathmnist"))
    monkeypatch.setattr(profiles, "_model_names", lambda: ("alexnet", "resnet18"))
    project = make_project(tmp_path)
    assert build.main(cli(project, "-p", "data_flag", "cifar10", "--no-pdf")) == 1
    assert "valid data flags: mnist, pathmnist" in capsys.readouterr().err
    assert build.main(cli(project, "-p", "models", "[alexnet, vgg]", "--no-pdf")) == 1
    assert "valid models: alexnet, resnet18" in capsys.readouterr().err
    assert not (project["reports"] / "quick" / "executed").exists()


def test_parse_value_like_papermill():
    assert build.parse_value("3") == 3 and build.parse_value("1e-3") == 0.001 and build.parse_value("0.5") == 0.5
    assert build.parse_value("True") is True and build.parse_value("None") is None
    assert build.parse_value("pneumoniamnist") == "pneumoniamnist" and build.parse_value("[a, b]") == ["a", "b"]


def test_no_browser_error_names_apt_package(monkeypatch):
    monkeypatch.delenv("DIVE_BROWSER", raising=False)
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(build.BrowserNotFound, match="apt-get install -y chromium"):
        build.find_browser()


def test_misspelt_parameter_stops_before_running(tmp_path, capsys):
    project = make_project(tmp_path)
    assert build.main(cli(project, "-p", "epoch", "5", "--no-pdf")) == 1
    err = capsys.readouterr().err
    assert "epoch" in err and "not defined by any of the notebooks" in err and "epochs, lr, profile, tag" in err
    assert not (project["reports"] / "quick" / "executed").exists()
