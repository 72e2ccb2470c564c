"""notebooks/_template.ipynb (the starting point of CONTRIBUTING.md) runs as it is in the smoke profile."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parent.parent


def test_template_runs_in_the_smoke_profile_and_learns(tmp_path):
    import papermill as pm

    from dive.report.execute import kernel_env, kernel_for

    nb = REPO / "notebooks" / "_template.ipynb"
    reports = tmp_path / "reports"
    with kernel_env(reports, None):
        pm.execute_notebook(
            str(nb),
            str(tmp_path / "out.ipynb"),
            parameters={"profile": "smoke"},
            kernel_name=kernel_for(nb),
            cwd=str(REPO / "notebooks"),
            progress_bar=False,
        )
    m = json.loads((reports / "smoke" / "_template" / "metrics.json").read_text())
    assert m["synthetic"] is True and len(m["runs"]) == 1
    run = m["runs"][0]
    assert run["params"]["model"] == "simplecnn" and run["params"]["key"]
    assert run["val"]["accuracy"] > 0.5  # pathmnist's synthetic classes are learnable; chance is 1/9
    assert (reports / "smoke" / "runs" / run["params"]["key"] / "result.pt").is_file()  # in the shared run store
