"""The command line (a contract users script against) and the project's set-up files."""

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from nasrec_lab.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "nasrec_lab.cli", *args], capture_output=True, text=True, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def subcommands(parser):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            yield from action.choices.items()


def test_every_subcommand_has_help(capsys):
    names = []

    def walk(parser, prefix):
        for name, sub in subcommands(parser):
            names.append(" ".join([*prefix, name]))
            with pytest.raises(SystemExit) as info:
                main([*prefix, name, "--help"])
            assert info.value.code == 0
            assert "usage: nasrec-lab" in capsys.readouterr().out
            walk(sub, [*prefix, name])

    walk(build_parser(), [])
    assert {"synth", "preprocess", "demo", "bench", "bench data"} <= set(names)


def test_synth_command_contract(tmp_path):
    out = tmp_path / "ds"
    proc = run_cli("synth", "--rows", "5000", "--seed", "7", "--out", str(out))
    assert "oracle log loss" in proc.stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["synthetic"]["seed"] == 7 and sum(s["rows"] for s in m["splits"].values()) == 5000
    again = run_cli("synth", "--rows", "5000", "--seed", "7", "--out", str(out), check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    run_cli("synth", "--rows", "5000", "--seed", "7", "--part", "1", "--out", str(tmp_path / "more"))
    more = json.loads((tmp_path / "more" / "manifest.json").read_text())
    assert more["synthetic"]["part"] == 1 and more["synthetic"]["bias"] == m["synthetic"]["bias"]
    assert more["splits"]["train"]["oracle_logloss"] != m["splits"]["train"]["oracle_logloss"]  # other rows
    bad = run_cli("synth", "--rows", "5000", "--part", "1024", "--out", str(tmp_path / "bad"), check=False)
    assert bad.returncode == 2 and "part must be between 0 and 1023" in bad.stderr


def test_preprocess_command_and_bad_input_message(tmp_path):
    raw = tmp_path / "train.txt"
    run_cli("synth", "--rows", "2000", "--seed", "1", "--out", "-", "--raw-criteo", str(raw))
    proc = run_cli("preprocess", "criteo", str(raw), "--out", str(tmp_path / "ds"))
    assert "train:" in proc.stdout
    text = raw.read_text().splitlines()
    text[9] = "0\tnot-a-number" + "\t" * 38
    raw.write_text("\n".join(text) + "\n")
    bad = run_cli("preprocess", "criteo", str(raw), "--out", str(tmp_path / "ds2"), check=False)
    assert bad.returncode == 2
    assert f"{raw}:10: field 'I1': expected a number" in bad.stderr and "'not-a-number'" in bad.stderr
    skipped = run_cli("preprocess", "criteo", str(raw), "--out", str(tmp_path / "ds3"), "--on-bad-rows", "skip")
    assert "bad rows skipped: 1" in skipped.stdout


def test_bench_data_json_contract(tmp_path):
    proc = run_cli("bench", "data", "--rows", "20000", "--json")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("preprocess_speedup", "memory_growth", "loader_speedup"):
        assert isinstance(result[key], float) and result[key] > 0


def _requirement_names(reqs):
    return {re.split(r"[<>=!~ \[]", r.strip(), maxsplit=1)[0].lower() for r in reqs}


def test_environment_yml_names_the_same_direct_dependencies():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = _requirement_names(py["project"]["dependencies"])
    env_lines = (ROOT / "environment.yml").read_text().splitlines()
    conda = set()
    in_deps = False
    for line in env_lines:
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"^  - ([A-Za-z0-9_.-]+)", line)
        if in_deps and m and m.group(1) not in ("pip", "python"):
            conda.add(m.group(1).lower())
    conda = {"torch" if c == "pytorch" else c for c in conda} - {"pytorch-cuda"}
    assert conda == deps
    assert 'pip:' in "\n".join(env_lines) and '.[lab,test]' in "\n".join(env_lines)


def test_library_never_imports_the_ui_layer():
    # nor the repository's benchmark scripts (not installed: the CLI's benchmarks are nasrec_lab.bench)
    forbidden = {"widgets", "ipywidgets", "jupyterlab", "IPython", "notebook", "benchmarks"}
    for path in (ROOT / "nasrec_lab").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path}: imports {name}"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    commands = [line for line in block if line.strip() and not line.startswith("#")]
    assert len(commands) == 2, commands
    test_cmd = [c for c in commands if c.split("#")[0].strip().endswith("test")][0].split("#")[0].strip()
    assert test_cmd in ci


def test_torch_is_pinned_to_the_cpu_wheel_in_setup():
    script = (ROOT / "scripts" / "quickstart.sh").read_text()
    assert "torch==2.13.0" in script
    assert script.index("torch_spec") < script.index('-e ".[lab,test]"')


def test_bench_supernet_and_search_json_contracts():
    proc = run_cli("bench", "supernet", "--steps", "2", "--table-rows", "500", "--batch-size", "64",
                   "--inference-batch", "64", "--space", "small", "--json")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["batch_size"], result["table_rows"]) == (64, 500)
    for key in ("samples_per_s", "reference_samples_per_s", "speedup"):
        assert result[key] > 0
    proc = run_cli("bench", "search", "--finetune-steps", "2", "--eval-batches", "1", "--candidates", "1",
                   "--table-rows", "500", "--space", "small", "--json")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("candidates_per_min", "reference_candidates_per_min", "speedup", "process_candidates_per_min",
                "process_speedup"):  # the last two: --workers 2 by default
        assert result[key] > 0
    assert result["workers"] == 2 and result["device"] == "cpu" and result["table_rows"] == 500


def test_arch_cost_json_contract():
    from nasrec_lab.data import PRESET_SCHEMAS
    from nasrec_lab.space import load_architecture
    from nasrec_lab.supernet import cost
    from tests.conftest import reference_config

    path = reference_config("criteo_full")
    out = json.loads(run_cli("arch", "cost", str(path), "--dataset", "criteo", "--json").stdout)
    arch, space = load_architecture(path)
    c = cost(arch, PRESET_SCHEMAS["criteo"], space)
    assert (out["flops"], out["params"], out["params_dense"]) == (c.flops, c.params, c.params_dense)
    bad = run_cli("arch", "cost", str(ROOT / "README.md"), check=False)
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
