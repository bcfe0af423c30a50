"""End to end in a real browser: JupyterLab on a free local port, the dashboard notebook run in
headless Chromium (Debian's), the space edited, a tiny search started, a Pareto point clicked,
its architecture graph checked. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, ensure_chromium

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    ensure_chromium()
    pytest.importorskip("playwright")
    root = tmp_path_factory.mktemp("lab")
    import numpy as np

    from nasrec_lab.data import SyntheticSpec, synthesize

    spec = SyntheticSpec(table_sizes=tuple(int(x) for x in np.geomspace(4, 2000, 26)))
    synthesize(root / "data", rows=5000, seed=0, spec=spec)
    nb = json.loads((ROOT / "notebooks" / "07_dashboard.ipynb").read_text())
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            # the data set made above (rows, seed, tables): the notebook reuses it only when it is the one asked for
            cell["source"] = ("# parameters\ndata_dir = 'data'\nrows = 5000\nmax_table = 2000\nout = 'out'\nspace = 'small'\n"
                              "supernet_steps = 4\nbudget = 4\nfinetune_steps = 2\neval_batches = 1\n"
                              "eval_batch_size = 512\nrank_refs = 0\nseed = 0\n")
    (root / "dashboard.ipynb").write_text(json.dumps(nb))
    settings = root / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                          "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / "lab-settings"), "PYTHONPATH": str(ROOT)}
    log = open(root / "lab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", "--ServerApp.password=", "--allow-root",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                raise RuntimeError((root / "lab.log").read_text()) from None
            time.sleep(0.3)
    yield {"url": url, "token": token, "root": root}
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def test_dashboard_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    t0 = time.time()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{lab['url']}/lab/tree/dashboard.ipynb?token={lab['token']}")
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                                   "window.jupyterapp.shell.currentWidget.sessionContext.session && "
                                   "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
                                   timeout=60_000)
            time.sleep(1.0)
            run = page.locator(".widget-button", has_text="run: train supernet + search")
            for attempt in range(2):
                # the Run menu's "Run All Cells"
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
                try:
                    run.wait_for(timeout=90_000)
                    break
                except Exception:
                    if attempt:
                        raise
            page.screenshot(path=str(ARTIFACTS / "dashboard-1-built.png"))
            # change the space: a width off, then back on through the checkboxes of interactions
            size = page.locator(".space-size")
            before = size.inner_text()
            page.locator(".widget-checkbox", has_text="deep_fm").locator("input").click()
            page.wait_for_function("b => document.querySelector('.space-size') && "
                                   "document.querySelector('.space-size').innerText !== b", arg=before, timeout=20_000)
            assert size.inner_text() != before
            run.click()
            page.wait_for_function("() => [...document.querySelectorAll('.dash-state')].some(e => "
                                   "e.innerText.startsWith('done'))", timeout=240_000)
            pareto = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="Pareto front"))
            points = pareto.locator(".scatterlayer .trace .point")
            points.first.wait_for(timeout=30_000)
            assert points.count() >= 4
            pareto.first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "dashboard-2-pareto.png"))
            pareto.first.scroll_into_view_if_needed()
            front = pareto.locator(".scatterlayer .trace").nth(1).locator(".point").first
            box = front.bounding_box()
            # plotly listens on its drag layer above the points: click at the point's position
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            time.sleep(0.3)
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            assert page.locator(".gtitle", has_text="no architecture selected").count() == 1
            viewer_title = page.locator(".gtitle", has_text="selected subnet ")
            viewer_title.first.wait_for(timeout=30_000)  # the click drew the subnet
            assert page.locator(".gtitle", has_text="no architecture selected").count() == 0
            graph = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="selected subnet "))
            assert graph.locator(".scatterlayer .point").count() >= 10  # inputs, 2 ops x blocks, head
            page.locator(".arch-metrics").first.wait_for(timeout=10_000)
            assert "val log loss" in page.locator(".arch-metrics").first.inner_text()
            graph.first.scroll_into_view_if_needed()
            # nothing clipped: the head's label lies inside the plot area and inside the visible output area
            head = graph.first.locator(".textpoint text", has_text="Head").first
            head.wait_for(timeout=10_000)
            label = head.bounding_box()
            plot_area = graph.first.locator(".nsewdrag").first.bounding_box()
            output = page.locator(".jp-OutputArea-output", has=graph.first).last.bounding_box()
            for outer in (plot_area, output):
                assert outer["x"] <= label["x"] and label["x"] + label["width"] <= outer["x"] + outer["width"], \
                    (label, outer)
                assert outer["y"] <= label["y"] and label["y"] + label["height"] <= outer["y"] + outer["height"], \
                    (label, outer)
            page.screenshot(path=str(ARTIFACTS / "dashboard-3-subnet.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "dashboard-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    (ARTIFACTS / "e2e-timing.txt").write_text(f"{time.time() - t0:.1f} s\n")
