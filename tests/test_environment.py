"""The packaging files agree with each other and with what is installed."""
import re
import tomllib
from importlib import metadata
from pathlib import Path

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
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([0-9][^,;\s]*)", dep)
        assert m, f"{dep} is not pinned with =="
        name, version = m.groups()
        assert metadata.version(name) == version, f"{name} {metadata.version(name)} installed, {version} pinned"


def test_makefile_targets_exist():
    text = (ROOT / "Makefile").read_text()
    for target in ("setup", "test", "bench", "data", "report", "lab", "clean"):
        assert re.search(rf"^{target}:", text, re.M), target
