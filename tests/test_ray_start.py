"""start_local_ray without a real Ray: a start-up timeout is tried again after a pause with a longer agent
timeout; any other error, or the last try, raises naming every try."""

import os
import sys
import types

import pytest

from dive import ray_cluster


def fake_ray(monkeypatch, errors):
    seen = []

    def init(**kw):
        seen.append(os.environ.get("RAY_agent_register_timeout_ms"))
        if errors:
            raise errors.pop(0)
        return "ctx"

    mod = types.SimpleNamespace(init=init, shutdown=lambda: None)
    monkeypatch.setitem(sys.modules, "ray", mod)
    monkeypatch.delenv("RAY_agent_register_timeout_ms", raising=False)
    monkeypatch.setattr(ray_cluster.time, "sleep", lambda s: seen.append(f"sleep {s:g}"))
    return seen


TIMEOUT = Exception("The current node timed out during startup. This could happen because ...")


def test_a_startup_timeout_is_tried_again_with_a_longer_timeout(monkeypatch, capsys):
    seen = fake_ray(monkeypatch, [TIMEOUT, TIMEOUT])
    assert ray_cluster.start_local_ray(num_cpus=2) == "ctx"
    longer = str(ray_cluster.RAY_RETRY_AGENT_TIMEOUT_MS)
    assert seen == [None, "sleep 5", longer, "sleep 20", longer]
    assert "RAY_agent_register_timeout_ms" not in os.environ  # only for the start
    assert capsys.readouterr().out.count("trying again") == 2


def test_the_last_try_and_other_errors_raise_naming_every_try(monkeypatch):
    fake_ray(monkeypatch, [TIMEOUT, TIMEOUT, TIMEOUT])
    with pytest.raises(RuntimeError, match=r"try 1: .*try 2: .*try 3: .*timed out during startup.*ray start --head"):
        ray_cluster.start_local_ray()
    seen = fake_ray(monkeypatch, [ValueError("bad option")])
    with pytest.raises(RuntimeError, match="try 1: ValueError: bad option"):
        ray_cluster.start_local_ray()
    assert seen == [None]  # not tried again


def test_a_timeout_the_user_set_is_kept(monkeypatch):
    seen = fake_ray(monkeypatch, [TIMEOUT])
    monkeypatch.setenv("RAY_agent_register_timeout_ms", "999")
    ray_cluster.start_local_ray()
    assert seen == ["999", "sleep 5", "999"]


def test_ci_requires_the_ray_tests_to_run_and_make_test_names_the_slowest_tests():
    import re
    import shutil
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    ci = (root / ".ci" / "run").read_text()
    assert re.search(r"^export DIVE_REQUIRE_RAY=1$", ci, re.M)
    assert ci.index("export DIVE_REQUIRE_RAY=1") < ci.index("\nmake test")
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "test"], cwd=root, capture_output=True, text=True, timeout=60, check=True)
    (line,) = [ln for ln in out.stdout.splitlines() if "pytest" in ln]
    assert "--durations=25" in line
