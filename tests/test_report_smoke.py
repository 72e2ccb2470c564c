"""The assembled smoke report: every notebook in it, every section in the HTML and the PDF, SYNTHETIC and a
page number on every printed page, and no table wider than the text block."""

import json
import re
from html import unescape

import pytest

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
