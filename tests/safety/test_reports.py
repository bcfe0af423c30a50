"""Issue 15, cases 1 and 3: a report never runs script it was handed as data (a title, a search
name in SQLite, a notebook parameter), and never writes over the notebook it runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest

from nasrec_lab.report import PLOTLY_MIME, executed_notebook_path, offline_html, report, script_json
from nasrec_lab.search import SearchStore
from tests.conftest import ensure_chromium

from .conftest import ROOT

# closes the figure's <script>, opens a comment (which would swallow the next </script>), runs code
HOSTILE = "</script><script>window.pwned=(window.pwned||0)+1;document.title='pwned'</script><!--<script>"
SEARCH_NAME = "</ScRiPt ><script>window.pwned=(window.pwned||0)+1</script>"


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('title = "plain"\nstore = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import plotly.graph_objects as go\nimport plotly.io as pio\nfrom nasrec_lab.search import SearchStore\n"
        'pio.renderers.default = "plotly_mimetype"\n'
        'name = SearchStore(store).searches()[0]["name"]\n'
        'go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name=name), layout={"title": {"text": title}}).show()\n'
        "print(title)\nprint(name)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    """``nasrec-lab report report.ipynb -p title HOSTILE -o report.html`` (the output's stem is the
    notebook's), with a search whose name is script."""
    d = tmp_path_factory.mktemp("report")
    with SearchStore(d / "s.sqlite") as store:
        store.create_search(SEARCH_NAME, {}, {})
    source = d / "report.ipynb"
    nbformat.write(_notebook(), source)
    before = source.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "nasrec_lab.cli", "report", str(source), "-p", "title", HOSTILE,
                           "-p", "store", str(d / "s.sqlite"), "-o", str(d / "report.html"), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d, before


def test_the_source_notebook_is_never_written(hostile_report, tmp_path):
    d, before = hostile_report
    assert (d / "report.ipynb").read_bytes() == before  # case 3: not replaced by the executed copy
    assert (d / "report.executed.ipynb").is_file()
    source = d / "report.ipynb"
    for output in (source, d / "sub" / ".." / "report.ipynb"):  # -o the notebook itself: refused
        with pytest.raises(ValueError, match="is the notebook being run"):
            report(source, output)
    with pytest.raises(ValueError, match="REPORT.html"):
        report(source, d / "other.ipynb")  # the HTML would land where the executed notebook goes
    assert source.read_bytes() == before
    assert executed_notebook_path(source, tmp_path / "r.html") == tmp_path / "r.ipynb"
    # a notebook of the user's where the executed copy would go: refused, kept; an earlier report's copy is replaced
    mine = tmp_path / "mine.ipynb"
    nbformat.write(_notebook(), mine)
    kept = mine.read_bytes()
    with pytest.raises(ValueError, match="mine.ipynb: exists and is not the executed copy of an earlier report"):
        executed_notebook_path(source, tmp_path / "mine.html")
    assert mine.read_bytes() == kept
    assert executed_notebook_path(source, d / "report.executed.html") == d / "report.executed.ipynb"


def test_embedded_json_cannot_close_its_script():
    text = script_json({"t": HOSTILE, "u": "a & b > c"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": HOSTILE, "u": "a & b > c"}
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={PLOTLY_MIME: {"data": [{"name": SEARCH_NAME}],
                                                                            "layout": {"title": HOSTILE}}})]
    nb.cells = [cell]
    page = offline_html(nb, title=HOSTILE, provenance={"parameters": {"title": HOSTILE}})
    # every <script> the page has is one we wrote: none was opened by the data
    assert len(re.findall(r"<script\b", page, re.I)) == len(re.findall(r"<script\b", offline_html(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
            "display_data", data={PLOTLY_MIME: {"data": [], "layout": {}}})])]), title="t", provenance={}), re.I))


@pytest.mark.browser
def test_hostile_title_search_name_and_parameter_stay_text_in_chromium(hostile_report):
    pytest.importorskip("playwright")
    ensure_chromium()
    from playwright.sync_api import sync_playwright

    d, _ = hostile_report
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page()
            page.goto((d / "report.html").as_uri())
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 1",
                                   timeout=60_000)
            assert page.evaluate("() => window.pwned") is None
            assert page.title() == "report"
            body = page.evaluate("() => document.body.innerText")
            assert HOSTILE in body and SEARCH_NAME in body  # shown as text
            # the figure got the exact strings as data
            plot = page.evaluate("() => { const p = document.querySelector('.js-plotly-plot'); "
                                 "return [p.data[0].name, p.layout.title.text]; }")
            assert plot == [SEARCH_NAME, HOSTILE]
        finally:
            browser.close()
