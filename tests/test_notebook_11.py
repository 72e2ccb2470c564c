"""Notebook 11 (would a search find Table 4's recipe?) in the session's smoke report: its tables and figures,
the study in its SQLite file, pruned trials that stopped early, both recipes retrained with three seeds, the
verdict line agreeing with dive.stats, and its section and Claims row in the assembled HTML and PDF."""

from __future__ import annotations

import re
from html import unescape

import optuna
import pandas as pd
import pytest
from notebook_checks import check_artifacts, executed_errors

from dive import claims, profiles, search
from dive.outputs import groups_frame

pytestmark = pytest.mark.notebooks
NB = "11_search"
TABLES = {"search_space": 5, "search_best_vs_table4": 5, "search_vs_table4_seeds": 2}
FIGURES = ["search_history", "search_importances"]
CLAIM = "A search over Table 4's space finds a recipe at least as good as Adagrad 0.0005"


@pytest.fixture(scope="module")
def p():
    return profiles.resolve(NB, "smoke", out_dir="/tmp/unused")


def test_runs_and_leaves_its_tables_and_figures(smoke_report, p):
    _, errors = executed_errors(smoke_report, NB)
    assert not errors, [(e["ename"], e["evalue"]) for e in errors]
    check_artifacts(smoke_report, NB, {**TABLES, "search_trials": p.search_trials}, FIGURES, [], {"runs", "notes"})


def test_the_study_is_in_its_sqlite_file_and_pruned_trials_stopped_early(smoke_report, p):
    url = f"sqlite:///{smoke_report / NB / 'search.sqlite'}"
    (summary,) = optuna.get_all_study_summaries(storage=url)
    study = optuna.load_study(study_name=summary.study_name, storage=url)
    S = optuna.trial.TrialState
    done = study.get_trials(states=(S.COMPLETE, S.PRUNED))
    assert len(done) == p.search_trials and summary.study_name.startswith("table4-local-")
    assert len(study.get_trials(states=(S.COMPLETE,))) >= 2
    for t in study.get_trials(states=(S.PRUNED,)):
        assert len(t.intermediate_values) < p.report_max_epochs
    trials = pd.read_csv(smoke_report / NB / "tables" / "search_trials.csv")
    assert list(trials["number"]) == [t.number for t in done]
    assert set(trials.columns) >= {"state", "value", "epochs_run", *search.SPACE.distributions()}


def test_both_recipes_retrained_with_three_seeds_and_the_verdict_follows_stats(smoke_report, p):
    from notebook_checks import metrics

    m = metrics(smoke_report, NB)
    seeds = list(range(p.seed, p.seed + p.seeds))
    runs = {(r["name"], r["seed"]) for r in m["runs"]}
    assert runs == {(n, s) for n in (search.BEST, search.TABLE4) for s in seeds}
    v = search.verdict(groups_frame(m["groups"]))
    (note,) = [n for n in m["notes"] if n.startswith("Verdict (")]
    assert f": {v['answer']};" in note and f"{v['comparison'].format_diff(100, 2)} points" in note
    best = {r["seed"]: r for r in m["runs"] if r["name"] == search.BEST}
    t4 = {r["seed"]: r for r in m["runs"] if r["name"] == search.TABLE4}
    assert t4[p.seed]["params"]["optimizer"] == "adagrad" and t4[p.seed]["params"]["lr"] == 0.0005
    assert {best[s]["params"]["lr"] for s in seeds} == {best[p.seed]["params"]["lr"]}  # one recipe, three seeds
    for r in m["runs"]:
        assert r["test"] is not None and 0.0 <= r["test"]["accuracy"] <= 1.0


def test_section_and_claims_row_in_the_html_and_pdf(smoke_report):
    from pypdf import PdfReader

    html = unescape((smoke_report / "report.html").read_text(encoding="utf-8"))
    assert "Beyond the report: would a search find Table 4's recipe?" in html
    claims_section = html[html.index('id="claims"') : html.index('id="discussion"')]
    assert CLAIM in claims_section
    row = claims.claims_table(smoke_report.parent, "smoke").set_index("claim").loc[CLAIM]
    assert row["n"] == 3 and row["verdict"] != "not run" and row["data"] == "SYNTHETIC"
    text = re.sub(r"\s+", " ", " ".join(pg.extract_text() or "" for pg in PdfReader(smoke_report / "report.pdf").pages))
    assert "would a search find Table 4" in text
    assert "A search over Table 4's space finds a recipe" in text.replace("’", "'")
