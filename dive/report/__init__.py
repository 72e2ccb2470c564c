"""Build the report: run every notebook with one profile (papermill), render each to HTML
(nbconvert), assemble one self-contained ``report.html`` in the original report's order (Jinja2
template) and print it to ``report.pdf`` (WeasyPrint; ``--pdf-engine chromium`` for headless Chromium).

``python -m dive.report --profile quick [-p NAME VALUE ...] [--notebooks 00 03 ...] [--no-pdf]``
"""

from dive.report.build import (  # noqa: F401
    BrowserNotFound,
    NotebookFailed,
    PdfEngineMissing,
    PreflightError,
    assemble,
    find_browser,
    find_notebooks,
    main,
    render_html,
    render_pdf,
    run_notebooks,
)
