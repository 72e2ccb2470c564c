"""The assembled smoke report: every notebook in it, every section in the HTML and the PDF, SYNTHETIC and a
page number on every printed page, and no table wider than the text block."""

import json
import re
from html import unescape

import pytest

from dive.outputs import SYNTHETIC_LINE
from dive.report import pdf
from dive.report.build import default_notebooks_dir, find_notebooks

pytestmark = pytest.mark.notebooks

SECTIONS = ("1 Datasets", "2 Methods", "3 Experiments", "4 Claims and evidence", "5 Discussion")


def test_every_notebook_ran_and_rendered(smoke_report):
    names = [p.stem for p in find_notebooks(default_notebooks_dir())]
    assert names, "no notebooks found"
    for name in names:
        assert (smoke_report / "executed" / f"{name}.ipynb").stat().st_size > 0
        assert (smoke_report / "html" / f"{name}.html").stat().st_size > 0
        m = json.loads((smoke_report / name / "metrics.json").read_text())
        assert m["notebook"] == name and m["profile"] == "smoke" and m["synthetic"] is True


def test_no_notebook_prints_a_warning(smoke_report):
    """A reader sees a notebook's stderr under its cell: a library warning there (e.g. torch's "The given NumPy
    array is not writable" that notebook 10 printed until the targets were copied) is noise to them or a sign
    of something wrong. Every executed notebook's stderr is free of warnings."""
    import nbformat

    found = []
    for path in sorted((smoke_report / "executed").glob("*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            for o in cell.get("outputs", []):
                text = o.get("text", "") if o.get("output_type") == "stream" and o.get("name") == "stderr" else ""
                found += [f"{path.name} cell {i}: {line}" for line in text.splitlines() if "warn" in line.lower()]
    assert not found, "\n".join(found)


def test_report_html_has_every_section_and_says_synthetic(smoke_report):
    html = (smoke_report / "report.html").read_text()
    for title in SECTIONS:
        assert title in html
    assert "SYNTHETIC" in html
    for nb in find_notebooks(default_notebooks_dir()):
        assert nb.stem in html  # each notebook's subsection / link is there
    assert "No results" not in html  # every notebook left its metrics.json


def test_report_pdf_every_page_has_the_banner_and_its_page_number(smoke_report):
    from pypdf import PdfReader

    pages = [re.sub(r"\s+", " ", p.extract_text() or "") for p in PdfReader(str(smoke_report / "report.pdf")).pages]
    assert len(pages) >= 10
    for i, text in enumerate(pages, 1):
        assert "SYNTHETIC DATA — not comparable with the original report" in text, f"page {i}"
        assert f"page {i} of {len(pages)}" in text, f"page {i}"
        assert "profile smoke" in text, f"page {i}"  # the running header
    flat = " ".join(pages)
    for title in SECTIONS:
        assert re.search(rf"{title}[ .]+\d+", flat), f"{title} with its page number in the contents"


def test_no_printed_table_is_wider_than_the_text_block(smoke_report):
    """WeasyPrint's measured layout (written with the PDF) has every table of report.html, and each fits."""
    layout = json.loads((smoke_report / "report.layout.json").read_text())
    html = (smoke_report / "report.html").read_text()
    names = {unescape(n) for n in re.findall(r'<table class="[^"]*" data-name="([^"]+)"', html)}
    assert len(names) >= 20 and names <= {t["name"] for t in layout["tables"]}  # every table was measured
    too_wide = [
        (t["name"], t["page"], round(t["overflow_px"])) for t in layout["tables"] if t["overflow_px"] > pdf.TOLERANCE_PX
    ]
    assert too_wide == []


def test_claims_and_evidence_page_in_html_and_pdf(smoke_report):
    """The smoke profile runs notebooks 02 and 04 with two seeds: their claims get n = 2 and a verdict."""
    from pypdf import PdfReader

    from dive import claims

    table = claims.claims_table(smoke_report.parent, "smoke")
    ran = table[table["verdict"] != "not run"]
    assert len(ran) >= 3 and (ran["n"] >= 1).all()
    two_seeds = table[table["notebook"].isin(["02_pathmnist_simplecnn", "04_alexnet_balancing"])]
    assert len(two_seeds) >= 2 and (two_seeds["n"] == 2).all()
    assert two_seeds["verdict"].str.contains("better|within noise|equivalent|different|cannot tell").all()
    # one family per page: every directional comparison with a test (at least two pairs), counted from metrics.json
    family = 0
    for c in claims.CLAIMS:
        path = smoke_report / c.notebook / "metrics.json"
        if c.expected != "A better" or not path.is_file():
            continue
        groups = {g["name"]: g for g in json.loads(path.read_text(encoding="utf-8"))["groups"]}
        found = [claims._find(groups, pattern)[0] for pattern in c.groups]
        if None not in found:
            keys = [set(claims._per_seed(groups[g], c.metric)) for g in found]
            family += sum(len(keys[0] & k) >= 2 for k in keys[1:])
    assert table.attrs["family"] == family >= 3  # smoke: notebook 02's one and 04's two comparisons over 2 seeds
    # notebook 07 records how its ensembles were built: member 2 (other seeds) pairs with member 1's seed
    g7 = {g["name"]: g for g in json.loads((smoke_report / "07_resnet_tuning" / "metrics.json").read_text())["groups"]}
    member1, member2 = (next(g for n, g in g7.items() if n.endswith(f"_member{k}")) for k in (1, 2))
    assert member2["values"]["pair"] == member1["seeds"] != member2["seeds"]
    html = (smoke_report / "report.html").read_text()
    section = html[html.index('id="claims"') : html.index('id="discussion"')]
    assert "95 %" in section and "Balancing" in unescape(section) or "balancing" in unescape(section)
    assert "Verdict words" in section and "<b>cannot tell</b>" in section  # the legend under the table
    pages = [re.sub(r"\s+", " ", p.extract_text() or "") for p in PdfReader(str(smoke_report / "report.pdf")).pages]
    claims_pages = [t for t in pages if "4 Claims and evidence" in t and "verdict" in t]
    assert claims_pages, "the claims page is in the PDF"


def _pdf_pages(smoke_report) -> list[str]:
    from pypdf import PdfReader

    return [re.sub(r"\s+", " ", p.extract_text() or "") for p in PdfReader(str(smoke_report / "report.pdf")).pages]


def _comparisons_with_data(smoke_report) -> int:
    """Counted from the notebooks' metrics.json: each claim whose groups all have values gives one comparison per
    group after A."""
    from dive import claims

    count = 0
    for claim in claims.CLAIMS:
        path = smoke_report / claim.notebook / "metrics.json"
        if not path.is_file():
            continue
        groups = {g["name"]: g for g in json.loads(path.read_text()).get("groups") or []}
        names = [claims._find(groups, pattern)[0] for pattern in claim.groups]
        if all(n and (groups[n].get("values") or {}).get(claim.metric) for n in names):
            count += len(names) - 1
    return count


def test_what_holds_up_comes_first_with_a_verdict_on_every_claim_and_the_forest_figure(smoke_report):
    """HTML and PDF: "What holds up" before the first chapter, one line per claim with a verdict word and its
    symbol; the forest figure with one row per comparison (counted from metrics.json), saved as PNG and SVG."""
    from dive import claims
    from dive.report import claims_page

    html = (smoke_report / "report.html").read_text()
    assert html.index('id="what-holds-up"') < html.index('id="datasets"')
    holds = unescape(html[html.index('id="what-holds-up"') : html.index('<nav class="toc">')])
    lines = re.findall(r'<tr class="claim-line [^"]+" data-claim="([^"]+)"><td class="verdict">(.*?)</td>', holds)
    assert [cid for cid, _ in lines] == [c.id for c in claims.CLAIMS]
    for cid, cell in lines:
        assert any(
            f'<span class="mark">{mark}</span> {word}' in cell for word, (mark, _) in claims_page.MARKS.items()
        ), cid
    comparisons = _comparisons_with_data(smoke_report)
    assert comparisons >= 3  # the smoke profile runs notebooks 01-07
    forest = json.loads(pd_read(smoke_report / "claims" / "forest.csv").to_json(orient="records"))
    assert len(forest) == comparisons and f'data-rows="{comparisons}"' in holds
    for ext in ("png", "svg"):
        assert (smoke_report / "claims" / f"forest.{ext}").stat().st_size > 1000
    pages = _pdf_pages(smoke_report)
    first_chapter = next(i for i, t in enumerate(pages) if re.search(r"(^| )1 Datasets Datasets", t))
    front = " ".join(pages[:first_chapter])
    assert "What holds up" in front and "Contents" in front
    for claim in claims.CLAIMS:
        assert claim.text.split(" (")[0] in front, claim.id  # every claim, with ...
    words = re.findall(
        r"[\u2714\u2248\u2718\u2013?\u25cb] (supported|equivalent|consistent|contradicted|different|"
        r"not supported|cannot tell|not run)",
        front,
    )
    assert len(words) >= len(claims.CLAIMS)  # ... a verdict as a symbol and a word
    holds_pages = [i for i, t in enumerate(pages) if "What holds up" in t and "Contents" not in t]
    assert holds_pages and holds_pages[0] == 0  # on the first page, right after the title


def pd_isna(x) -> bool:
    import pandas as pd

    return bool(pd.isna(x))


def pd_read(path):
    import pandas as pd

    return pd.read_csv(path)


def test_figure_and_verdicts_match_the_claims_table(smoke_report):
    """forest.csv (what the figure draws), the "What holds up" lines and the readable Claims table say what
    dive.claims.claims_table says: the same differences with their intervals and the same verdicts."""
    from dive import claims
    from dive.report import claims_page

    table = claims.claims_table(smoke_report.parent, "smoke")
    forest = pd_read(smoke_report / "claims" / "forest.csv")
    for claim, row in zip(claims.CLAIMS, table.to_dict("records"), strict=True):
        mine = forest[forest["claim_id"] == claim.id]
        tested = row["difference [tested interval]"]
        if len(mine) == 1:
            assert mine["text"].iloc[0] == tested, claim.id
        for r in mine.itertuples():
            assert f"vs {r.b}: {r.text}" in tested or r.text == tested
            assert r.verdict == claims_page.verdict_word(row["holds"])[0]
            # the drawn interval is the one the verdict rests on: without 0 exactly when the family-corrected
            # test found a direction; inside the margin exactly when equivalent (a single run has none)
            if pd_isna(r.lo):
                assert r.test == "single run: no interval" or r.n < 2, claim.id
            elif claim.expected == "no difference":
                assert (-r.margin < r.lo and r.hi < r.margin) == r.test.startswith("equivalent"), claim.id
            else:
                assert (r.lo > 0 or r.hi < 0) == (r.test in ("A better", "B better")), claim.id
    html = unescape((smoke_report / "report.html").read_text())
    holds = html[html.index('id="what-holds-up"') : html.index('<nav class="toc">')]
    shown = re.findall(r'data-claim="([^"]+)"><td class="verdict"><span class="mark">[^<]+</span> ([^<]+)', holds)
    assert [w.strip() for _, w in shown] == [claims_page.verdict_word(h)[0] for h in table["holds"]]
    section = html[html.index('id="claims"') : html.index('id="discussion"')].replace("<wbr>", "")
    for row in table.to_dict("records"):
        word, detail = claims_page.verdict_word(row["holds"])
        assert f"{word}" + (f" ({detail})" if detail else "") in section


def test_the_appendix_holds_every_run_table_and_no_chapter_a_long_one(smoke_report):
    from dive.report import layout

    html = (smoke_report / "report.html").read_text()
    start = html.index('id="all-runs"')
    chapters, appendix = html[html.index('id="datasets"') : start], html[start:]
    for nb in find_notebooks(default_notebooks_dir()):
        m = json.loads((smoke_report / nb.stem / "metrics.json").read_text())
        if m.get("runs"):
            assert f'data-name="Runs of {nb.stem}"' in appendix and f'data-name="Runs of {nb.stem}"' not in chapters
            assert f'href="#runs-{nb.stem}"' in chapters  # linked from its chapter
        for t in m["tables"]:
            frame = pd_read(smoke_report / nb.stem / t["csv"])
            if layout.appendix_table(t["name"], len(frame), layout.table_chars(frame)):
                assert f"({t['name']})" in appendix and f"({t['name']})" not in chapters, t["name"]
        for f in m.get("figures") or []:  # every figure once: in its chapter, or (a further one) in the appendix
            where = (f'alt="{f["name"]}"' in chapters, f'alt="{f["name"]}"' in appendix)
            assert where in ((True, False), (False, True)), f["name"]
    assert "_seeds" in appendix  # the per-seed tables are there
    for body in re.findall(r"<tbody>(.*?)</tbody>", chapters, flags=re.S):
        assert body.count("<tr") <= layout.CHAPTER_ROWS
    pages = _pdf_pages(smoke_report)
    contents = next(t for t in pages if t.startswith("Contents") or " Contents What holds up" in t)
    assert re.search(r"Appendix: all runs[ .]+\d+", contents)  # the contents page lists the appendix apart


def test_did_every_model_learn_has_a_row_for_every_configuration_of_the_experiments(smoke_report):
    """Under the Claims: one row per configuration of notebooks 01-08 whose runs have validation accuracy and AUC,
    each with a verdict of dive.learning, in the HTML (marked synthetic), the PDF and claims/learning.csv."""
    import pandas as pd

    from dive import learning

    expected = []
    for path in sorted(smoke_report.glob("0[1-8]_*/metrics.json")):
        m = json.loads(path.read_text())
        for g in m["groups"]:
            if g["runs"] and {"val_accuracy", "val_auc"} <= set(g["values"]):
                expected.append((path.parent.name, g["name"]))
    csv = pd.read_csv(smoke_report / "claims" / "learning.csv")
    assert expected and list(zip(csv["notebook"], csv["configuration"], strict=True)) == expected
    assert csv["verdict"].isin(learning.VERDICTS).all() and (csv["majority rate"].between(0, 1)).all()
    assert (csv["validation images"] >= 1).all()  # every row, the ensemble's too (its runs record their n)
    html = (smoke_report / "report.html").read_text()
    section = html[html.index('id="learning"') : html.index('id="discussion"')]
    assert SYNTHETIC_LINE in section and "configurations learned" in section
    details = html[html.index('id="learning-details"') : html.index('id="how-made"')].replace("<wbr>", "")
    assert all(f">{name}<" in details for _, name in expected)  # every configuration in the appendix
    assert any("Did every model learn?" in t for t in _pdf_pages(smoke_report))
