"""Plant known bugs one at a time in a scratch copy of the repository and check that tests fail.

Not part of the test suite (it runs the suite's tests many times over). Usage::

    .venv/bin/python scripts/mutation_check.py                  # every mutation, committed code (HEAD)
    .venv/bin/python scripts/mutation_check.py --source worktree --only slice-offset,fm-sign
    .venv/bin/python scripts/mutation_check.py --extra tests/supernet/test_supernet.py

Each mutation replaces one exact piece of source text (which must occur exactly once) and runs
its targeted tests (``-x``; ``--extra`` adds test paths to every run). The unmutated copy must
pass every targeted test first. Prints a Markdown table; exits 1 when a bug is not caught or
cannot be planted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

REFERENCE = "tests/reference/test_reference_model.py"
SAMPLING = "tests/space/test_sampling_distributions.py"
OPTIM = "tests/training/test_optim.py"
COMPAT = "tests/data/test_compat_release.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    bug: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    # -- the eight bugs of issue 13 --------------------------------------------------------
    Mutation("slice-offset", "every elastic slice takes rows [1:d+1] instead of [:d]",
             "nasrec_lab/supernet/_ops.py", "t = t.narrow(dim, 0, a)", "t = t.narrow(dim, 1, a)", (REFERENCE,)),
    Mutation("fc-first-column", "FC drops its first input column", "nasrec_lab/supernet/_ops.py",
             'return F.relu(_apply(p, "", x.dense))',
             'return F.relu(_apply(p, "", torch.cat([torch.zeros_like(x.dense[:, :1]), x.dense[:, 1:]], 1)))',
             (REFERENCE,)),
    Mutation("right-is-left", "Sum / Sigmoid Gating right input wired to the left output",
             "nasrec_lab/supernet/_model.py",
             "outs_d[bp.left] if lr else None, outs_d[bp.right] if lr else None",
             "outs_d[bp.left] if lr else None, outs_d[bp.left] if lr else None", (REFERENCE,)),
    Mutation("previous-slot", "dense weight columns taken from the previous block's slot",
             "nasrec_lab/supernet/_plan.py", "(geo.dense_offset(j), dense_w[j])",
             "(geo.dense_offset(max(j - 1, 0)), dense_w[j])", (REFERENCE,)),
    Mutation("uniform-count", "default sampler: input count uniform instead of 1 + Binomial",
             "nasrec_lab/space/_sampling.py", '"default": ("binomial", "single"),', '"default": ("uniform", "single"),',
             (SAMPLING,)),
    Mutation("no-1024", "widths never sample 1024", "nasrec_lab/space/_sampling.py",
             "        dense_width=int(space.dense_widths[int(rng.integers(len(space.dense_widths)))]),\n        sparse",
             "        dense_width=int(space.dense_widths[int(rng.integers(len(space.dense_widths) - 1))]),\n        sparse",
             (SAMPLING,)),
    Mutation("tied-warmup", "warm-up micro draw tied to the macro draw", "nasrec_lab/space/_sampling.py",
             "full_micro = p > 0 and self.rng.random() < p", "full_micro = full_macro", (SAMPLING,)),
    Mutation("short-region", "optimizer update region one row short", "nasrec_lab/supernet/_model.py",
             "else [slice(0, a)]", "else [slice(0, a - 1)]", (OPTIM,)),
    # -- more ----------------------------------------------------------------------------
    Mutation("dp-rows", "Dot-Product projects to round(sqrt(2w)) + 1 rows", "nasrec_lab/supernet/_ops.py",
             "return int(round(math.sqrt(2 * self.w)))", "return int(round(math.sqrt(2 * self.w))) + 1", (REFERENCE,)),
    Mutation("dp-always-projects", "Dot-Product projects a dense input that already has e columns",
             "nasrec_lab/supernet/_ops.py", "if ctx.needs(ctx.dense_in.size, ctx.e):", "if True:", (REFERENCE,)),
    Mutation("fm-sign", "FM adds the sum of squares instead of subtracting it", "nasrec_lab/supernet/_ops.py",
             "fm = s.sum(dim=1).square() - s.square().sum(dim=1)", "fm = s.sum(dim=1).square() + s.square().sum(dim=1)",
             (REFERENCE,)),
    Mutation("dsi-first", "dense->sparse fields put before the operator fields", "nasrec_lab/supernet/_model.py",
             "sparse = torch.cat([sparse, extra], 1)", "sparse = torch.cat([extra, sparse], 1)", (REFERENCE,)),
    Mutation("dsi-after-fm", "dense->sparse fields taken from the dense output after the FM term",
             "nasrec_lab/supernet/_model.py", "sparse = torch.cat([sparse, extra], 1)",
             'sparse = torch.cat([sparse, OPERATORS["dense_sparse_interact"].forward('
             'get(i, "dense_sparse_interact", ctx), OpInputs(dense=dense), ctx)], 1)', (REFERENCE,)),
    Mutation("dsi-alias-8e", "at w = 8e only, dense->sparse fields include the FM term (the release's aliasing)",
             "nasrec_lab/supernet/_model.py", "sparse = torch.cat([sparse, extra], 1)",
             "sparse = torch.cat([sparse, dense.reshape(-1, ctx.k, ctx.e) if dense.shape[1] == ctx.k * ctx.e "
             "else extra], 1)", (REFERENCE,)),
    Mutation("four-heads", "attention with 4 heads instead of 8", "nasrec_lab/supernet/_ops.py",
             "ATTENTION_HEADS = 8", "ATTENTION_HEADS = 4", (REFERENCE,)),
    Mutation("gate-right", "Sigmoid Gating gates with the right input", "nasrec_lab/supernet/_ops.py",
             'gate = torch.sigmoid(_apply(p, "gate_", _pad(x.left, ctx.c)))',
             'gate = torch.sigmoid(_apply(p, "gate_", _pad(x.right, ctx.c)))', (REFERENCE,)),
    Mutation("stem-offsets", "all sparse features read one embedding table from row 0", "nasrec_lab/supernet/_model.py",
             'self.register_buffer("offsets", torch.cumsum(sizes, 0)',
             'self.register_buffer("offsets", torch.zeros_like(sizes)', (REFERENCE,)),
    Mutation("ln-eps", "LayerNorm eps 1e-3 instead of 1e-5", "nasrec_lab/supernet/_ops.py",
             'y = F.layer_norm(y, (y.shape[-1],), lw, p[f"{prefix}ln_bias"])',
             'y = F.layer_norm(y, (y.shape[-1],), lw, p[f"{prefix}ln_bias"], eps=1e-3)', (REFERENCE,)),
    Mutation("any-path-binomial-ops", "any-path counts operators binomially", "nasrec_lab/space/_sampling.py",
             '"any-path": ("uniform", "uniform"),', '"any-path": ("uniform", "binomial"),', (SAMPLING,)),
    Mutation("binomial-is-default", "any-path-binomial draws single operators (= default)",
             "nasrec_lab/space/_sampling.py", '"any-path-binomial": ("binomial", "binomial"),',
             '"any-path-binomial": ("binomial", "single"),', (SAMPLING,)),
    Mutation("no-shift", "release split without the shift", "nasrec_lab/data/_compat.py",
             'SHIFTED_SPLIT = frozenset({"criteo", "kdd"})', "SHIFTED_SPLIT = frozenset()", (COMPAT,)),
    Mutation("mod-n", "release map x mod n instead of x mod (n - 1)", "nasrec_lab/data/_compat.py",
             "% np.uint64(self.table_size - 1)", "% np.uint64(self.table_size)", (COMPAT,)),
    Mutation("hex-first", "release map reads KDD/Avazu values as hexadecimal", "nasrec_lab/data/_compat.py",
             'parse = _criteo_value if fmt == "criteo" else _decimal_first_value', "parse = _criteo_value",
             (COMPAT,)),
)


def make_copy(source: str, dest: Path) -> None:
    """The committed tree (``head``) or the files on disk git knows or would track (``worktree``)."""
    if source == "head":
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def run_tests(copy: Path, tests: list[str], env: dict[str, str], timeout: float) -> tuple[bool, str, float]:
    """(passed, first failing test or error line, seconds)."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", *tests]
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timeout after {timeout:.0f} s", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    if proc.returncode == 0:
        return True, "", seconds
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.M)
    tail = (proc.stdout + proc.stderr).strip().splitlines()
    return False, failed[0] if failed else (tail[-1] if tail else f"exit {proc.returncode}"), seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=["head", "worktree"], default="head")
    ap.add_argument("--only", default="", help="comma-separated mutation names")
    ap.add_argument("--extra", action="append", default=[], help="test path added to every run")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only.split(",")]
    if not chosen:
        ap.error(f"no mutation named {args.only!r}; known: {', '.join(m.name for m in MUTATIONS)}")

    with tempfile.TemporaryDirectory(prefix="nasrec-mutants-") as tmp:
        copy = Path(tmp)
        make_copy(args.source, copy)
        env = {**os.environ, "PYTHONPATH": str(copy),
               "NASREC_SHARED": os.environ.get("NASREC_SHARED", str(ROOT.parent / "shared"))}
        where = subprocess.run([sys.executable, "-c", "import nasrec_lab; print(nasrec_lab.__file__)"], cwd=copy,
                               env=env, check=True, capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(copy)):
            print(f"the scratch copy imports nasrec_lab from {where}, not from {copy}", file=sys.stderr)
            return 2
        for tests in sorted({m.tests + tuple(args.extra) for m in chosen}):
            ok, why, seconds = run_tests(copy, list(tests), env, args.timeout)
            print(f"baseline {' '.join(tests)}: {'passes' if ok else 'FAILS: ' + why} ({seconds:.0f} s)", flush=True)
            if not ok:
                return 2
        results = []
        for m in chosen:
            target = copy / m.path
            original = target.read_text()
            count = original.count(m.old)
            if count != 1:
                results.append({**m.__dict__, "status": "not planted", "detail": f"source text found {count} times",
                                "seconds": 0.0})
                print(f"{m.name}: NOT PLANTED ({count} matches)", flush=True)
                continue
            target.write_text(original.replace(m.old, m.new))
            try:
                ok, why, seconds = run_tests(copy, [*m.tests, *args.extra], env, args.timeout)
            finally:
                target.write_text(original)
            status = "NOT CAUGHT" if ok else "caught"
            results.append({**m.__dict__, "status": status, "detail": why, "seconds": round(seconds, 1)})
            print(f"{m.name}: {status} {why} ({seconds:.0f} s)", flush=True)

    print("\n| planted bug | caught by | seconds |\n|---|---|---|")
    for r in results:
        caught = r["detail"] if r["status"] == "caught" else f"**{r['status']}**"
        print(f"| {r['bug']} | `{caught}` | {r['seconds']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if all(r["status"] == "caught" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
