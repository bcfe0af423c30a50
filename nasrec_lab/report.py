"""Reproducible reports: execute a notebook with parameters, write one offline HTML file.

``nasrec-lab report NOTEBOOK [-p NAME VALUE]... -o REPORT.html`` runs the notebook with
papermill, then writes HTML that opens without a network: plotly.js is embedded once and
every figure output becomes a static plot; live widget views (which need a widget manager
from a CDN) are left out, since the notebooks show the final static figures after their live
widgets finish; MathJax and other remote scripts are not referenced. The report ends with a
provenance section: parameters, package versions, git commit, data manifest checksums,
device and wall time.
"""

from __future__ import annotations

import ast
import copy
import datetime as _dt
import html
import json
import os
import platform
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_bytes

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def parse_parameter(value: str) -> Any:
    """``-p NAME VALUE``: a Python literal when it is one (numbers, booleans, lists), else the string."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def execute_notebook(notebook: str | os.PathLike, output: str | os.PathLike, parameters: dict[str, Any], *,
                     cwd: str | os.PathLike | None = None, progress: bool = True, timeout: int | None = None) -> None:
    import papermill as pm

    pm.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(cwd) if cwd else None,
                        progress_bar=progress, kernel_name="python3", execution_timeout=timeout)


def script_json(obj: Any) -> str:
    """JSON that is safe inside an HTML ``<script>`` element.

    A string holding ``</script>`` would end the element and ``<!--`` would change how the
    browser finds its end, so ``<``, ``>`` and ``&`` are written as ``\\u003c`` etc.: the same
    JSON value, no markup. (``json.dumps`` already escapes U+2028/U+2029.)
    """
    text = json.dumps(obj)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _figure_html(fig_json: dict[str, Any], div_id: str) -> str:
    data = script_json(fig_json.get("data", []))
    layout = script_json(fig_json.get("layout", {}))
    return (f'<div id="{div_id}" class="nasrec-figure" style="width:100%;min-height:360px"></div>'
            f'<script>Plotly.newPlot("{div_id}", {data}, {layout}, {{"responsive": true}});</script>')


def offline_html(nb, *, title: str, provenance: dict[str, Any]) -> str:
    """The executed notebook as one self-contained HTML page."""
    from nbconvert import HTMLExporter
    from plotly.offline import get_plotlyjs

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # widget state would pull the html-manager from a CDN
    n_fig = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY_MIME in data:
                n_fig += 1
                out["data"] = {"text/html": _figure_html(data[PLOTLY_MIME], f"nasrec-fig-{n_fig}")}
            elif WIDGET_MIME in data:
                continue  # the live view; the notebook shows its final static figure afterwards
            kept.append(out)
        cell["outputs"] = kept
    exporter = HTMLExporter(template_name="lab")
    exporter.mathjax_url = ""
    body, _ = exporter.from_notebook_node(nb)
    # no remote scripts or stylesheets: drop any <script src="http..."> / <link href="http...">
    body = re.sub(r'<script[^>]+src="(https?:)?//[^"]*"[^>]*>\s*</script>', "", body)
    body = re.sub(r'<script[^>]+src=""[^>]*>\s*</script>', "", body)
    body = re.sub(r'<link[^>]+href="https?://[^"]*"[^>]*>', "", body)
    # nor scripts that import modules from a CDN when the page loads (nbconvert's mermaid loader):
    # a mermaid block stays its source text
    body = re.sub(r'<script type="module">(?:(?!</script>).)*?import\(\s*["\']https?://(?:(?!</script>).)*</script>', "",
                  body, flags=re.S)
    plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    body = body.replace("<head>", f"<head>\n<title>{html.escape(title)}</title>\n{plotly_js}", 1)
    prov = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(str(k))}</th>"
                   f"<td><pre style='margin:0;white-space:pre-wrap'>{html.escape(_fmt(v))}</pre></td></tr>"
                   for k, v in provenance.items())
    section = (f'<section id="provenance" style="margin:2em;padding:1em;border-top:2px solid #888">'
               f"<h2>Provenance</h2><table>{prov}</table></section>")
    return body.replace("</body>", section + "\n</body>", 1)


def _fmt(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, indent=1, sort_keys=True, default=str)


def data_manifests(parameters: dict[str, Any], cwd: Path, since: float) -> list[Path]:
    """The data sets of a run: ``data_dir`` (given, or the notebook's default) and every nasrec-lab data
    set the run wrote under ``cwd`` (a manifest written after ``since``, a ``time.time()``)."""
    found = []
    d = parameters.get("data_dir")
    if isinstance(d, str | os.PathLike):
        found.append(cwd / d / "manifest.json")
    for depth in ("*/manifest.json", "*/*/manifest.json", "*/*/*/manifest.json"):
        found += [m for m in sorted(cwd.glob(depth)) if m.stat().st_mtime >= since]
    out: list[Path] = []
    for m in found:
        if m.is_file() and m.resolve() not in out:
            out.append(m.resolve())
    return out


def notebook_defaults(notebook: Path) -> dict[str, Any]:
    """The literal values of the notebook's parameters cell (what a run without ``-p`` uses)."""
    import ast

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    out: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        out[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        continue  # an expression: not a value the report can name
    return out


def provenance(notebook: Path, parameters: dict[str, Any], wall_s: float,
               manifests: list[Path] | None = None) -> dict[str, Any]:
    import importlib.metadata as md

    import torch

    versions = {}
    for pkg in ("nasrec-lab", "torch", "numpy", "pandas", "plotly", "networkx", "ipywidgets", "papermill"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=Path(__file__).resolve().parent,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    if manifests is None:
        d = parameters.get("data_dir")
        manifests = [Path(d) / "manifest.json"] if d else []
    data = []
    for path in manifests:
        if not path.is_file():
            continue
        m = json.loads(path.read_text())
        data.append({"path": str(path.parent), "kind": m.get("kind"), "created": m.get("created"),
                     "sources": [{"path": s["path"], "sha256": s["sha256"]} for s in m.get("sources", [])],
                     "synthetic": m.get("synthetic", {}).get("seed") if m.get("synthetic") else None})
    device = f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else \
        f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"
    return {"notebook": str(notebook), "parameters": parameters, "seed": parameters.get("seed", "notebook default"),
            "packages": versions, "python": platform.python_version(), "git commit": commit,
            "data manifest": data or "none: the run named or wrote no nasrec-lab data set", "device": device,
            "wall time": f"{wall_s:.1f} s",
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}


def report(notebook: str | os.PathLike, output: str | os.PathLike, parameters: dict[str, Any] | None = None, *,
           cwd: str | os.PathLike | None = None, progress: bool = True, keep_notebook: bool = True) -> Path:
    """Execute ``notebook`` with ``parameters`` and write the offline HTML report to ``output``."""
    import nbformat

    notebook, output = Path(notebook), Path(output)
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook}: no such notebook")
    executed = executed_notebook_path(notebook, output)
    parameters = dict(parameters or {})
    output.parent.mkdir(parents=True, exist_ok=True)
    t0, started = time.perf_counter(), time.time()
    run_dir = Path(cwd or output.parent)
    execute_notebook(notebook, executed, parameters, cwd=run_dir, progress=progress)
    wall = time.perf_counter() - t0
    nb = nbformat.read(executed, as_version=4)
    # the data the run used: named by a parameter or its default, or written by the run (mtime resolution margin)
    manifests = data_manifests({**notebook_defaults(notebook), **parameters}, run_dir, started - 2)
    page = offline_html(nb, title=notebook.stem, provenance=provenance(notebook, parameters, wall, manifests))
    atomic_write_bytes(output, page.encode())
    if not keep_notebook:
        executed.unlink()
    return output


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def executed_notebook_path(notebook: Path, output: Path) -> Path:
    """Where the executed copy of ``notebook`` goes: ``<output stem>.ipynb`` beside the report,
    or ``<output stem>.executed.ipynb`` when that name is the source notebook itself.

    The source notebook is never written: ``-o`` equal to it is refused.
    """
    if output.is_dir():
        raise ValueError(f"{output}: is a folder; -o names the report file (REPORT.html)")
    if _same_file(output, notebook):
        raise ValueError(f"{output}: is the notebook being run; the report would replace it (choose another -o)")
    if output.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{output}: the report is HTML; name it REPORT.html")
    executed = output.with_suffix(".ipynb")
    if _same_file(executed, notebook):
        executed = output.with_suffix(".executed.ipynb")
    if executed.exists() and not _written_by_a_report(executed):
        raise ValueError(f"{executed}: exists and is not the executed copy of an earlier report; the report "
                         f"{output.name} would replace it (choose another -o, or move the notebook)")
    return executed


def _written_by_a_report(path: Path) -> bool:
    """Whether ``path`` is a notebook papermill executed (what a report leaves beside its HTML)."""
    try:
        return "papermill" in json.loads(path.read_text()).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return False


def notebooks_dir() -> Path:
    """The project's notebooks (next to the package in a source checkout or editable install)."""
    here = Path(__file__).resolve().parents[1] / "notebooks"
    if here.is_dir():
        return here
    raise FileNotFoundError("the notebooks/ folder is not next to the package: run from a checkout of nasrec-lab")


def parse_parameters(pairs: Sequence[Sequence[str]] | None) -> dict[str, Any]:
    return {name: parse_parameter(value) for name, value in (pairs or [])}
