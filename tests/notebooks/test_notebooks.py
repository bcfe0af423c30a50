"""Every notebook runs top to bottom with tiny parameters; one report is rendered and checked
offline in headless Chromium; the same parameters give the same numbers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REAL, ensure_chromium

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts"
TINY_SYNTH = {"rows": 5000, "max_table": 2000, "threads": 1}
CRITEO = REAL / "criteo" / "criteo_dac_train_first10k.txt"
TINY = {
    "01_quickstart": {**TINY_SYNTH, "supernet_steps": 4, "budget": 4, "finetune_steps": 2, "eval_batches": 1,
                      "eval_batch_size": 512, "space": "small", "max_epochs": 2, "max_mflops": None},
    "02_search_space": {},
    "03_rank_correlation": {**TINY_SYNTH, "refs": 4, "ground_truth_steps": 5, "supernet_steps": 6, "track_every": 3,
                            "finetune_steps": 2, "samplers": ["single-path", "default"]},
    "04_evolution_pareto": {**TINY_SYNTH, "supernet_steps": 4, "budget": 6, "finetune_steps": 2, "eval_batches": 1,
                            "eval_batch_size": 512, "space": "small", "max_mflops": 1.5},
    "05_real_data": {"raw_files": [str(CRITEO)], "supernet_steps": 4, "budget": 3, "finetune_steps": 2,
                     "threads": 1},
    "06_reproduce_paper": {"raw_files": [str(CRITEO)], "max_steps": 3,
                           "threads": 1},
    "07_dashboard": {**TINY_SYNTH, "space": "small"},
}


def test_notebooks_are_committed_clean_with_a_parameters_cell():
    assert {p.stem for p in NOTEBOOKS} == set(TINY)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), path
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem != "01_quickstart"], ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    """(The quickstart runs twice in the ``reports`` fixture below.)"""
    import papermill as pm

    params = TINY[path.stem]
    if "raw_files" in params and not CRITEO.exists():  # a clone without the samples: the notebook's own rows
        params = {k: v for k, v in params.items() if k != "raw_files"}
    pm.execute_notebook(str(path), str(tmp_path / path.name), parameters={**params, "data_dir": str(tmp_path / "data"),
                        "out": str(tmp_path)} if "rows" in params else {**params, "out": str(tmp_path)},
                        cwd=str(tmp_path), progress_bar=False, kernel_name="python3")


def test_the_paper_notebook_runs_on_its_own_raw_rows_without_files(tmp_path):
    """What a fresh clone without data runs: ``raw_files = None`` writes rows in Criteo's raw layout and
    preprocesses them as it would the real file."""
    import hashlib

    from nasrec_lab.report import report

    old = tmp_path / "older" / "manifest.json"  # a data set that was there before: not this run's
    old.parent.mkdir()
    old.write_text(json.dumps({"kind": "older", "sources": []}))
    os.utime(old, (0, 0))
    report(ROOT / "notebooks" / "06_reproduce_paper.ipynb", tmp_path / "06.html",
           {"max_steps": 3, "threads": 1, "synthetic_rows": 20_000},
           progress=False)
    raw = tmp_path / "criteo-layout-train.txt"
    manifest = json.loads((tmp_path / "criteo-data" / "manifest.json").read_text())
    (source,) = manifest["sources"]
    assert source["path"] == str(raw.resolve()) and source["rows"] == 20_000
    # the report's provenance names the data set the run wrote, with its source's checksum, and only that one
    html = (tmp_path / "06.html").read_text()
    assert hashlib.sha256(raw.read_bytes()).hexdigest() in html and str(tmp_path / "criteo-data") in html
    assert "older" not in html.split('id="provenance"')[1]
    assert "<td>logistic regression</td>" in html  # the floor the published models are read against


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The quickstart run twice with the same parameters: through ``nasrec-lab report`` and through
    ``nasrec-lab demo`` (the README's main job), each writing a report."""
    out = []
    for i, command in enumerate(("report", "demo")):
        d = tmp_path_factory.mktemp(f"report{i}")
        params = {**TINY["01_quickstart"], "data_dir": str(d / "data"), "out": str(d)}
        args = [a for k, v in params.items() for a in ("-p", k, repr(v))]
        if command == "report":
            cmd = ["report", str(ROOT / "notebooks" / "01_quickstart.ipynb"), *args, "-o", str(d / "report.html")]
        else:
            cmd = ["demo", "--out", str(d), "--json", *args]
        proc = subprocess.run([sys.executable, "-m", "nasrec_lab.cli", *cmd, "--no-progress"], cwd=ROOT,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        if command == "demo":  # the --json contract: one JSON object as the last line of stdout
            last = json.loads(proc.stdout.strip().splitlines()[-1])
            keys = {"best_test_logloss", "logistic_regression_test_logloss", "dlrm_test_logloss",
                    "oracle_test_logloss", "best_hash", "wall_s"}
            assert keys <= set(last), last
            assert all(isinstance(last[k], float) and last[k] > 0 for k in keys - {"best_hash"})
            assert "report:" in proc.stderr and "oracle (Bayes-optimal)" in proc.stderr
        out.append(d)
    return out


def test_report_is_offline_with_every_figure_and_provenance(reports):
    d = reports[0]
    html = (d / "report.html").read_text()
    executed = nbformat.read(d / "report.ipynb", as_version=4)
    n_figures = sum("application/vnd.plotly.v1+json" in o.get("data", {})
                    for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert n_figures >= 5 and html.count("Plotly.newPlot(") == n_figures
    assert not re.search(r"<script[^>]+src=\"(https?:)?//", html)  # no remote script sources
    assert not re.search(r'<link[^>]+href="https?://', html)
    assert not re.search(r'import\(\s*["\']https?://', html) and "cdnjs" not in html  # no module loaded from a CDN
    for needle in ("Provenance", "git commit", "packages", "wall time", "device", "&quot;budget&quot;: 4",
                   "supernet training"):
        assert needle in html, needle
    assert html.count("var Plotly") <= 2 or html.count("plotly.js v") == 1  # plotly.js embedded once


def test_same_parameters_give_the_same_numbers(reports):
    def numbers(d):  # what the seed fixes: everything but paths and wall times
        out = {k: v for k, v in json.loads((d / "quickstart_result.json").read_text()).items()
               if k not in ("checkpoint", "store", "seconds")}
        out["table"] = [{k: v for k, v in r.items() if k != "train_seconds"} for r in out["table"]]
        return out

    a, b = numbers(reports[0]), numbers(reports[1])
    assert a == b and a["evaluated"] == 4 and a["best_test_logloss"] > a["oracle_test_logloss"] > 0
    # the notebook's default: the search's best 2 trained, the lower validation loss is the searched model
    assert [r["model"] for r in a["table"]][0] == "searched"
    other = f"candidate-{3 - a['table'][0]['search_rank']}"
    assert {r["model"] for r in a["table"]} == {"searched", other, "logistic-regression", "dlrm"}
    trained = [r for r in a["table"] if r["kind"] in ("nasrec", "candidate")]
    assert a["table"][0]["test_logloss"] == a["best_test_logloss"]
    assert min(trained, key=lambda r: min(r["val_logloss_per_epoch"]))["model"] == "searched"
    assert all(r["protocol"] == "early-stopping" and 1 <= r["epochs"] <= 2 for r in a["table"])
    assert "Provenance" in (reports[1] / "report.html").read_text()


def test_report_draws_in_headless_chromium(reports):
    pytest.importorskip("playwright")
    ensure_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    html = (reports[0] / "report.html").read_text()
    n = html.count("Plotly.newPlot(")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto((reports[0] / "report.html").as_uri())
        page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}",
                               timeout=60_000)
        assert page.locator(".nasrec-figure.js-plotly-plot").count() == n
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert all(u.startswith(("file:", "data:", "blob:", "about:")) for u in requests), requests
