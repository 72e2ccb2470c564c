"""The assembled report's stylesheet (a Python string, so it ships with the package)."""

CSS = r"""
:root { --ink: #1d2327; --muted: #5f6b73; --rule: #d5dbe0; --warn-bg: #fff1f0; --warn: #b3261e; }
html { font-family: "DejaVu Serif", Georgia, "Times New Roman", serif; color: var(--ink); }
body { max-width: 58rem; margin: 0 auto; padding: 1.5rem 2rem 3rem; line-height: 1.45; font-size: 11pt; }
h1 { font-size: 1.9rem; margin: 0.4rem 0 0.2rem; }
h2 { font-size: 1.45rem; border-bottom: 1px solid var(--rule); padding-bottom: 0.15rem; margin-top: 2.2rem; }
h3 { font-size: 1.2rem; margin-top: 1.8rem; }
h4, h5 { font-size: 1.02rem; margin-top: 1.2rem; }
.subtitle { color: var(--muted); margin: 0 0 1rem; }
a { color: #1a5fb4; text-decoration: none; }
.anchor-link { display: none; }
table { border-collapse: collapse; margin: 0.4rem 0 0.9rem; font-size: 0.86rem; font-family: "DejaVu Sans", Arial, sans-serif; }
th, td { border-top: 1px solid var(--rule); border-bottom: 1px solid var(--rule); padding: 0.18rem 0.55rem; text-align: right; vertical-align: top; }
th { background: #f3f5f7; font-weight: 600; }
td:first-child, th:first-child { text-align: left; }
table.meta td, table.meta th { text-align: left; }
.caption, figcaption { font-size: 0.9rem; color: var(--muted); margin: 0.6rem 0 0.2rem; }
.caption b, figcaption b { color: var(--ink); }
figure { margin: 0.8rem 0 1.2rem; break-inside: avoid; page-break-inside: avoid; }
figure img { max-width: 100%; max-height: 20cm; height: auto; }
.tablewrap { break-inside: avoid; page-break-inside: avoid; overflow-x: auto; }
.banner { background: var(--warn-bg); color: var(--warn); border: 2px solid var(--warn); padding: 0.5rem 0.8rem;
          font-weight: 700; font-family: "DejaVu Sans", Arial, sans-serif; margin: 0.6rem 0 1rem; }
.banner ul { margin: 0.2rem 0 0 1.2rem; padding: 0; font-weight: 600; }
.warn { color: var(--warn); font-weight: 700; font-size: 0.85rem; font-family: "DejaVu Sans", Arial, sans-serif; margin: 0.4rem 0 0.1rem; }
.notes { background: #f6f8fa; border-left: 3px solid var(--rule); padding: 0.3rem 0.8rem; font-size: 0.92rem; }
.notes ul { margin: 0.2rem 0; padding-left: 1.1rem; }
.small { font-size: 0.85rem; color: var(--muted); }
.missing { color: var(--warn); }
pre, code { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 0.85em; }
pre { background: #f6f8fa; padding: 0.5rem; overflow-x: auto; }
/* On screen the banner stays in view while scrolling; in print the @page margin box repeats it. */
.sticky-banner { position: sticky; top: 0; z-index: 10; background: var(--warn-bg); color: var(--warn);
                 border-bottom: 2px solid var(--warn); font: 700 0.8rem "DejaVu Sans", Arial, sans-serif;
                 padding: 0.25rem 0.6rem; margin: -1.5rem -2rem 0.8rem; text-align: center; }

@page { size: A4; margin: 20mm 14mm 16mm 14mm;
  @bottom-right { content: counter(page) " / " counter(pages); font: 8pt "DejaVu Sans", Arial, sans-serif; color: #5f6b73; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  a { color: var(--ink); }
  h2 { break-before: page; page-break-before: always; }
  h2.first { break-before: auto; page-break-before: auto; }
  h2, h3, h4, .caption { break-after: avoid; page-break-after: avoid; }
  .sticky-banner { display: none; }
}
"""


def page_banner_css(text: str) -> str:
    """A banner in the top margin of every printed page (CSS paged-media margin box; Chromium >= 131)."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return (
        "@page { @top-center { content: \"" + quoted + "\"; color: #b3261e; "
        "font: 700 8.5pt \"DejaVu Sans\", Arial, sans-serif; border-bottom: 1.5px solid #b3261e; "
        "vertical-align: bottom; padding-bottom: 1.5mm; margin-bottom: 3mm; } }\n"
    )
