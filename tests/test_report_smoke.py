"""The assembled smoke report: every section in the HTML and in the PDF's text, SYNTHETIC on it."""
import json
import shutil
import subprocess

import pytest

SECTIONS = ("1 Datasets", "2 Methods", "3 Experiments", "4 Discussion")


def test_every_notebook_ran_and_rendered(smoke_report):
    from dive.report.build import find_notebooks, default_notebooks_dir

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
    from dive.report.build import find_notebooks, default_notebooks_dir
    for nb in find_notebooks(default_notebooks_dir()):
        assert nb.stem in html  # each notebook's subsection / link is there


def test_report_pdf_has_pages_and_section_titles(smoke_report):
    pdf = smoke_report / "report.pdf"
    assert pdf.stat().st_size > 10_000
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext (poppler-utils) is needed to check the PDF: apt-get install poppler-utils")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) >= 3
    for title in SECTIONS:
        assert title in text
    # the synthetic banner is on every printed page
    assert all("SYNTHETIC" in p for p in pages if p.strip())
