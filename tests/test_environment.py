"""The packaging files agree with each other and with what is installed; the Makefile, CI and the notebooks'
kernel do what the README says; the code passes ruff."""

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_the_package_with_dev_extras():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    py = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    assert py and _pyproject()["project"]["requires-python"].lstrip(">=") <= py[0].split("=")[-1]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-e .[dev]" in pip, "environment.yml must install the package itself, whose pins live in pyproject.toml"
    # nothing pinned twice: any package named in environment.yml must carry pyproject's pin
    pins = dict(re.match(r"([A-Za-z0-9_.\-]+)==(.+)", d).groups() for d in _pyproject()["project"]["dependencies"])
    for d in [d for d in deps if isinstance(d, str)] + [p for p in pip if not p.startswith("-e")]:
        name = re.split(r"[=<>]", d)[0]
        if name in pins:
            assert d.endswith(pins[name]), f"{d} disagrees with pyproject's {name}=={pins[name]}"


def test_every_runtime_dependency_is_pinned_and_installed():
    for dep in _pyproject()["project"]["dependencies"] + _pyproject()["project"]["optional-dependencies"]["dev"]:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[a-z,]+\])?==([0-9][^,;\s]*)", dep)  # ray[tune]==...
        assert m, f"{dep} is not pinned with =="
        name, version = m.groups()
        assert metadata.version(name) == version, f"{name} {metadata.version(name)} installed, {version} pinned"


def test_makefile_targets_exist_and_the_readme_names_only_those():
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", text, re.M))
    assert {"setup", "test", "test-fast", "lint", "bench", "data", "report", "lab", "clean"} <= targets
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"`make ([a-z][a-z-]*)", readme))
    assert named and named <= targets, named - targets


def _make_n(*args: str) -> str:
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return re.sub(r"\\\n\s*", " ", out.stdout)  # a recipe line continued with a backslash, as one line


def test_make_lab_allows_root_only_for_root():
    lab = [line for line in _make_n("lab", "USER_ID=0").splitlines() if "jupyter lab" in line]
    assert lab and "--allow-root" in lab[-1] and "--notebook-dir=notebooks" in lab[-1]
    lab = [line for line in _make_n("lab", "USER_ID=1000").splitlines() if "jupyter lab" in line]
    assert lab and "--allow-root" not in lab[-1]
    lab = [line for line in _make_n("lab").splitlines() if "jupyter lab" in line]  # the real user
    assert ("--allow-root" in lab[-1]) == (os.getuid() == 0)
    lab = [line for line in _make_n("lab", "LAB_ARGS=--ip 0.0.0.0 --no-browser").splitlines() if "jupyter lab" in line]
    assert lab[-1].rstrip().endswith("--ip 0.0.0.0 --no-browser")


def test_make_report_passes_the_pdf_engine_and_test_fast_skips_notebooks():
    (report,) = [
        line for line in _make_n("report", "PDF_ENGINE=chromium", "PROFILE=smoke").splitlines() if "dive.report" in line
    ]
    assert "-m dive.report --profile smoke --pdf-engine chromium" in report
    assert "--pdf-engine weasyprint" in [line for line in _make_n("report").splitlines() if "dive.report" in line][0]
    (fast,) = [line for line in _make_n("test-fast").splitlines() if "pytest" in line]  # not make's own messages
    assert "pytest" in fast and '-m "not notebooks and not realdata and not ray"' in fast


def test_ci_does_what_the_readme_says_and_installs_no_system_packages():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert not any(re.search(r"\b(apt-get|apt|yum|dnf|brew|sudo)\b", c) for c in commands), commands
    makes = [c for c in commands if c.startswith("make ")]
    assert makes == ["make setup", "make test"]
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make setup" in readme and "DIVE_DATA" in readme


def test_every_notebook_runs_with_the_dive_kernel_that_make_setup_registers():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 9
    for path in notebooks:
        spec = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("kernelspec")
        assert spec == {"name": "dive", "display_name": "Python (dive)", "language": "python"}, path.name
    setup = (ROOT / "Makefile").read_text()
    assert re.search(r'ipykernel install --sys-prefix --name dive --display-name "Python \(dive\)"', setup)


LINT_PATHS = ["dive", "tests", "benchmarks", "notebooks"]


def test_ruff_lint_and_format_pass():
    """``make lint``: ruff's rules (pyproject's [tool.ruff]) and ruff format, notebooks included."""
    config = _pyproject()["tool"]["ruff"]
    assert config["line-length"] == 120 and {"E", "W", "F", "I", "B", "UP"} <= set(config["lint"]["select"])
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run(
        ruff + ["check", "--output-format", "concise", *LINT_PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    fmt = subprocess.run(
        ruff + ["format", "--check", *LINT_PATHS], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert fmt.returncode == 0, fmt.stdout[-4000:] + fmt.stderr[-2000:]
