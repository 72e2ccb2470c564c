"""Issue 20's targets for the quick profile, read from a finished report folder.

    python -m benchmarks.quick_targets reports/quick [--json targets.json]

The quick profile promises that a report made on a laptop CPU answers the report's questions. Issue 20 names six
targets; this reads them off what ``python -m dive.report --profile quick`` left behind (nothing is trained or
recomputed) and prints one row per target: ``met``, ``not met`` or ``cannot check`` (what it needs is not in the
folder), with the evidence.

1. **Every model learns**: in notebooks 02-08 every configuration's mean validation accuracy is at least 5 points
   above the majority-class rate and its mean AUC at least 0.80 (``claims/learning.csv``'s ``means at the bars``;
   the report's statistical verdicts, ``learned`` / ``cannot tell`` / ``did not learn``, are counted beside it).
2. **ResNet18 at or above MedMNIST v2**: notebook 03's and notebook 07's ResNet18, mean test ACC and AUC over the
   seeds at or above the published ResNet-18 (28) (``<nb>/tables/resnet18_vs_published.csv``, with its verdict).
3. **MNIST**: notebook 01's improved SimpleCNN, mean best validation accuracy at or above the report's 98.9 %
   (``01_mnist_simplecnn/tables/improved_vs_report.csv``).
4. **Seeds everywhere**: every claim of the Claims page on at least 3 seeds a group, none a single run
   (``claims/claims.csv``).
5. **Within one hour from an empty run store**: the build's ``build.json`` (:mod:`dive.report.build`: each
   notebook's wall time, HTML and PDF) adds up to at most 60 minutes, and the run store held no finished run when
   the build began; a second run loads finished runs and is much faster, so any other time is "cannot check", as
   is a build that ran only some notebooks or made no PDF. A report built before ``build.json`` existed: the
   notebooks' own ``seconds`` (a minute or two short of the build's: kernel starts, HTML and PDF are not in
   them), "cannot check" where a run was resumed from a checkpoint or loaded from a store folder older than the
   report (the notes of ``metrics.json`` name each loaded run's folder), or where such a folder is gone.
6. **Grad-CAM on a layer with a map**: notebook 10's Grad-CAM rows name a layer whose map is at least
   :data:`dive.attribution.GRADCAM_MIN_SIDE` a side, or the notebook says there is no spatial map.

The means are the issue's targets; the verdicts beside them are :mod:`dive.stats`' (a mean at the bar is not
shown to be there: where the seeds cannot tell, the verdict says so). A report made from synthetic data is
marked: the targets are about the real files, and nothing made from synthetic data counts towards them.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import re
import sys
from pathlib import Path

import pandas as pd

from dive import attribution, learning, medmnist_compare, store
from dive.report.build import BUILD_RECORD

MET, NOT_MET, CANNOT_CHECK = "met", "not met", "cannot check"
#: Issue 20, target 5: the whole quick report within this many seconds.
BUDGET_S = 3600
#: Issue 20, target 4: the fewest seeds a group of a claim may rest on.
MIN_SEEDS = 3
#: The notebooks whose configurations target 1 covers (their two-digit prefixes).
EXPERIMENTS = range(2, 9)
#: The notebooks that set ResNet18 against MedMNIST v2 (target 2).
PUBLISHED_NOTEBOOKS = ("03_resnet18_baseline", "07_resnet_tuning")
MNIST_NOTEBOOK = "01_mnist_simplecnn"
EXPLANATIONS = "10_explanations"


class ReportFolderError(ValueError):
    """The folder is not a report a quick build left behind."""


def _metrics(folder: Path) -> dict[str, dict]:
    """``{notebook stem: metrics.json}`` of every numbered notebook folder, in order."""
    out = {}
    for path in sorted(folder.glob("[0-9][0-9]_*/metrics.json")):
        try:
            out[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ReportFolderError(f"{path}: not a readable metrics.json ({err})") from err
    return out


def _csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def _row(target: int, name: str, result: str, evidence: str) -> dict:
    return {"target": target, "name": name, "result": result, "evidence": evidence}


def target1(folder: Path) -> dict:
    name = "every configuration of 02-08 learns (means)"
    table = _csv(folder / "claims" / "learning.csv")
    if table is None:
        return _row(1, name, CANNOT_CHECK, f"{folder / 'claims' / 'learning.csv'} is missing (the report not built)")
    prefix = table["notebook"].astype(str).str[:2]
    rows = table[prefix.isin([f"{i:02d}" for i in EXPERIMENTS])]
    if rows.empty:
        return _row(1, name, CANNOT_CHECK, "claims/learning.csv has no configuration of notebooks 02-08")
    short = rows[rows["means at the bars"] != "yes"]
    verdicts = learning.summary(rows)
    lines = [f"{len(rows) - len(short)} of {len(rows)} at the bars; verdicts: {verdicts}"]
    lines += [
        f"{r['notebook']} {r['configuration']}: val acc {r['val accuracy [95 % interval]']} (bar "
        f"{r['accuracy bar']:.3f}), AUC {r['val AUC [95 % interval]']} (bar {learning.AUC_FLOOR:.2f})"
        for _, r in short.iterrows()
    ]
    return _row(1, name, MET if short.empty else NOT_MET, "; ".join(lines))


def target2(folder: Path) -> dict:
    name = "ResNet18 of 03 and 07 at or above MedMNIST v2 (means)"
    lines, results = [], []
    for stem in PUBLISHED_NOTEBOOKS:
        table = _csv(folder / stem / "tables" / "resnet18_vs_published.csv")
        if table is None:
            lines.append(f"{stem}: no resnet18_vs_published table (not run, or a data set without a published value)")
            results.append(CANNOT_CHECK)
            continue
        for _, r in table.iterrows():
            pub = f"{medmnist_compare.BASELINE} "
            acc, auc, pub_acc, pub_auc = (float(r[c]) for c in ("test ACC", "test AUC", pub + "ACC", pub + "AUC"))
            ok = math.isfinite(acc) and math.isfinite(auc) and acc >= pub_acc and auc >= pub_auc
            results.append(MET if ok else NOT_MET)
            ci = {
                m: f" {r[f'test {m} 95% CI']}" if isinstance(r.get(f"test {m} 95% CI"), str) else ""
                for m in ("ACC", "AUC")
            }
            lines.append(
                f"{stem} {r['method']} (n {int(r['n_seeds'])}): ACC {acc:.3f}{ci['ACC']} vs {pub_acc:.3f}, AUC "
                f"{auc:.3f}{ci['AUC']} vs {pub_auc:.3f}; verdict: {r['verdict']}"
            )
    result = NOT_MET if NOT_MET in results else CANNOT_CHECK if CANNOT_CHECK in results else MET
    return _row(2, name, result, "; ".join(lines))


def target3(folder: Path) -> dict:
    name = "01's improved SimpleCNN at or above the report's 98.9 % (mean)"
    table = _csv(folder / MNIST_NOTEBOOK / "tables" / "improved_vs_report.csv")
    if table is None or table.empty:
        return _row(3, name, CANNOT_CHECK, f"{MNIST_NOTEBOOK}/tables/improved_vs_report.csv is missing")
    r = table.iloc[0]
    mean, bar = float(r["mean"]), float(r["report (Table 5 defaults)"])
    ci = f" [{r['ci_low']:.4f}, {r['ci_high']:.4f}]" if pd.notna(r.get("ci_low")) else ""
    evidence = f"{mean:.4f}{ci} vs {bar:.4f} over seeds {r['seeds']}; verdict: {r['verdict']}"
    return _row(3, name, MET if mean >= bar else NOT_MET, evidence)


def target4(folder: Path) -> dict:
    name = f"every claim on at least {MIN_SEEDS} seeds, none a single run"
    table = _csv(folder / "claims" / "claims.csv")
    if table is None or table.empty:
        return _row(4, name, CANNOT_CHECK, f"{folder / 'claims' / 'claims.csv'} is missing (the report not built)")
    n = pd.to_numeric(table["n"], errors="coerce")
    words = table[[c for c in ("verdict", "holds") if c in table.columns]].astype(str).agg(" ".join, axis=1)
    few = table[(n < MIN_SEEDS) | n.isna() | words.str.contains("single run|one seed", regex=True)]
    evidence = (
        f"{len(table)} claims, n {int(n.min()) if n.notna().any() else '?'}-{int(n.max()) if n.notna().any() else '?'}"
    )
    if len(few):
        evidence += "; short: " + ", ".join(f"{c} (n {v})" for c, v in zip(few["claim"], few["n"], strict=True))
    return _row(4, name, MET if few.empty else NOT_MET, evidence)


_LOADED = re.compile(r"loaded from the run store \((?P<dir>[^;]+);")


def _first_run(metrics: dict[str, dict]) -> tuple[bool | None, str]:
    """Whether the notebooks' times are a first run's: no run was resumed from a checkpoint and every run loaded
    from the run store was trained by this report (its folder's ``config.json`` written after the first notebook
    started; notebook 10, for one, loads notebook 02's and 07's runs). ``None`` where a loaded run's folder is gone
    and so its age cannot be told. Returns ``(first, what was found)``."""
    starts = [_dt.datetime.fromisoformat(m["started"]) for m in metrics.values() if m.get("started")]
    if not starts:
        return None, "no notebook recorded when it started"
    began = min(starts).timestamp()
    before, unknown, resumed, loaded = 0, 0, 0, 0
    for m in metrics.values():
        for note in m.get("notes") or []:
            resumed += "resumed from the checkpoint" in note
            hit = _LOADED.search(note)
            if hit is None:
                continue
            loaded += 1
            record = Path(hit["dir"]) / store.CONFIG_NAME
            if not record.is_file():
                unknown += 1
            elif record.stat().st_mtime < began:
                before += 1
    found = f"{loaded} runs loaded from the run store, {before} of them trained before this report began"
    found += f", {unknown} whose store folder is gone" if unknown else ""
    found += f"; {resumed} resumed from a checkpoint" if resumed else ""
    if before or resumed:
        return False, found
    return (None if unknown else True), found


def _from_build_record(name: str, record: dict, metrics: dict[str, dict]) -> dict:
    """Target 5 from ``build.json`` (:mod:`dive.report.build`): the build's own wall times, HTML and PDF
    included, and whether the run store was empty when it began."""
    timed = {n["notebook"]: float(n["seconds"]) for n in record.get("notebooks") or []}
    each = ", ".join(f"{stem[:2]} {sec:.0f}" for stem, sec in timed.items())
    pdf = record.get("pdf_seconds")
    total = float(record.get("total_seconds") or 0)
    machine = record.get("machine") or {}
    evidence = (
        f"{total / 60:.1f} min ({each} s; HTML {record.get('html_seconds')} s, PDF "
        f"{'not made' if pdf is None else f'{pdf} s'}), {record.get('started')} to {record.get('finished')}, "
        f"{machine.get('cpu')}{f' ({cid})' if (cid := machine.get('cpu_id')) else ''} "
        f"({', '.join(machine.get('cpu_features') or []) or 'no listed features'}), "
        f"{machine.get('cores')} cores, commit {record.get('git_commit')}; the run store held "
        f"{record.get('finished_runs_at_start')} finished runs when it began"
    )
    if record.get("complete") is False:  # a build that failed or was killed (older records: written at the end)
        return _row(5, name, CANNOT_CHECK, evidence + "; the build did not finish")
    missing = [stem for stem in metrics if stem not in timed]
    if missing:
        return _row(5, name, CANNOT_CHECK, evidence + f"; the build did not run {', '.join(missing)}")
    if pdf is None:
        return _row(5, name, CANNOT_CHECK, evidence + "; without the PDF")
    if record.get("finished_runs_at_start") != 0:
        return _row(5, name, CANNOT_CHECK, evidence + ": not a first run's time")
    return _row(5, name, MET if total <= BUDGET_S else NOT_MET, evidence)


def target5(folder: Path, metrics: dict[str, dict]) -> dict:
    name = "the whole report within 60 minutes from an empty run store"
    if not metrics:
        return _row(5, name, CANNOT_CHECK, "no notebook's metrics.json")
    record_path = folder / BUILD_RECORD
    if record_path.is_file():
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ReportFolderError(f"{record_path}: not a readable build record ({err})") from err
        return _from_build_record(name, record, metrics)
    # a report built before build.json existed: the notebooks' own seconds, and their notes on loaded runs
    seconds = {stem: float(m.get("seconds") or 0) for stem, m in metrics.items()}
    total = sum(seconds.values())
    each = ", ".join(f"{stem[:2]} {s:.0f}" for stem, s in seconds.items())
    first, found = _first_run(metrics)
    evidence = f"{total / 60:.1f} min over {len(seconds)} notebooks ({each} s; HTML and PDF, about 15 s, not recorded)"
    evidence += f"; {found}"
    if first is False:
        return _row(5, name, CANNOT_CHECK, evidence + ": not a first run's time")
    if first is None:
        return _row(5, name, CANNOT_CHECK, evidence + ": cannot tell whether this was a first run")
    return _row(5, name, MET if total <= BUDGET_S else NOT_MET, evidence)


_GRID = re.compile(r"^(?P<layer>.+) \((?P<h>\d+)x(?P<w>\d+)\)$")


def target6(folder: Path, metrics: dict[str, dict]) -> dict:
    name = f"Grad-CAM on a layer with a map of at least {attribution.GRADCAM_MIN_SIDE}x{attribution.GRADCAM_MIN_SIDE}"
    table = _csv(folder / EXPLANATIONS / "tables" / "faithfulness.csv")
    if table is None:
        return _row(6, name, CANNOT_CHECK, f"{EXPLANATIONS}/tables/faithfulness.csv is missing")
    notes = [n for n in (metrics.get(EXPLANATIONS) or {}).get("notes") or [] if "Grad-CAM" in n or "constant" in n]
    rows = table[table["method"] == "gradcam"]
    lines, ok = [], True
    for _, r in rows.iterrows():
        hit = _GRID.match(str(r.get("gradcam_layer", "")))
        small = hit is None or min(int(hit["h"]), int(hit["w"])) < attribution.GRADCAM_MIN_SIDE
        ok &= not small
        lines.append(f"{r['model']}: {r.get('gradcam_layer', '?')}")
    for model in sorted(set(table["model"]) - set(rows["model"])):
        said = any("no spatial map" in n or "Grad-CAM left out" in n for n in notes)
        ok &= said
        lines.append(f"{model}: no Grad-CAM row" + (" (the notebook says why)" if said else ", and no note why"))
    lines += notes
    return _row(6, name, MET if ok else NOT_MET, "; ".join(lines))


def check(folder: str | Path) -> pd.DataFrame:
    """One row per target (``target``, ``name``, ``result``, ``evidence``); ``attrs``: ``data`` (the data flags the
    notebooks ran on), ``synthetic`` (any notebook on synthetic data), ``commits`` (the git commits recorded)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportFolderError(f"{folder}: no such report folder (give reports/<profile>, e.g. reports/quick)")
    metrics = _metrics(folder)
    if not metrics:
        raise ReportFolderError(f"{folder}: no <NN_name>/metrics.json in it; is it a report folder (reports/quick)?")
    rows = [
        target1(folder),
        target2(folder),
        target3(folder),
        target4(folder),
        target5(folder, metrics),
        target6(folder, metrics),
    ]
    frame = pd.DataFrame(rows)
    flags = []
    for m in metrics.values():
        for flag in [m.get("dataset")] if isinstance(m.get("dataset"), str) else m.get("dataset") or []:
            if flag not in flags:
                flags.append(flag)
    frame.attrs["data"] = flags
    frame.attrs["data_flag"] = sorted(
        {str(m.get("dataset")) for stem, m in metrics.items() if stem[:2].isdigit() and int(stem[:2]) in EXPERIMENTS}
    )
    frame.attrs["synthetic"] = any(bool(m.get("synthetic")) for m in metrics.values())
    frame.attrs["commits"] = sorted({str(m.get("git_commit")) for m in metrics.values() if m.get("git_commit")})
    frame.attrs["profiles"] = sorted({str(m.get("profile")) for m in metrics.values() if m.get("profile")})
    return frame


def render(frame: pd.DataFrame) -> str:
    head = [
        f"data flag (notebooks 02-08): {', '.join(frame.attrs.get('data_flag', [])) or '?'}; all data: "
        f"{', '.join(frame.attrs.get('data', []))}; profile: {', '.join(frame.attrs.get('profiles', []))}; "
        f"commit: {', '.join(c[:10] for c in frame.attrs.get('commits', [])) or 'not recorded'}"
    ]
    if frame.attrs.get("synthetic"):
        head.insert(0, "SYNTHETIC DATA: issue 20's targets are about the real files; nothing here counts towards them")
    if "quick" not in frame.attrs.get("profiles", []):
        head.append("not a quick report: the targets are the quick profile's")
    body = [f"{r.target}. {r.name}: {r.result.upper()}\n   {r.evidence}" for r in frame.itertuples()]
    return "\n".join(head) + "\n\n" + "\n".join(body) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quick_targets",
        description="Issue 20's six targets for the quick profile, read from a finished report folder.",
    )
    parser.add_argument("folder", help="the report folder, reports/<profile> (e.g. reports/quick)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows and what they were read from as JSON")
    args = parser.parse_args(argv)
    try:
        frame = check(args.folder)
    except ReportFolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(render(frame), end="")
    if args.json:
        payload = {"folder": str(Path(args.folder).resolve()), **frame.attrs, "targets": frame.to_dict("records")}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
