#!/usr/bin/env bash
# The search-quality study on one GPU machine (issue 12): three-field preset (PRESET=...), 1.25M rows,
# NASRec-Small, evolution / random / TPE x 5 seeds x 200 candidates, the searches side by side in
# worker processes that share the GPU, then every best found and the five baselines (five seeds
# each) trained from scratch by the final recipe. Resumable: run it again with the same WORKDIR and it
# goes on where it stopped (data, supernet, search store and finished final trainings are kept there).
#
#   STUDY_LIMIT_S=480 OUT=out bash benchmarks/gpu_study.sh          # PRESET=dense-width for the first run's preset
#
# In two leases: PHASE=search (data, supernet, the searches; bring back $OUT/store.sqlite), then,
# on any machine, the store put at $WORKDIR/store.sqlite and PHASE=final: the data are generated
# again (the generator is deterministic for its seed), the bests read from the store and trained;
# no supernet needed. FINAL_WORKERS sets how many final trainings run at once (default WORKERS);
# FINAL_CANDIDATES=K trains each search's K best and takes the one with the lowest validation log loss (K times
# the searched models' final trainings; the best by supernet score is reported beside it).
#
# Without a GPU the same study runs on the CPU, over as many sittings as it takes (each candidate is
# stored as it is scored, so a stop loses at most the candidate in progress):
#
#   DEVICE=cpu WORKERS=2 PHASE=search WORKDIR=data/cpu-study bash benchmarks/gpu_study.sh
#
# The supernet's Adagrad starts from the release's accumulator, 0 (SUPERNET_ACCUMULATOR): the recipe's 0.1 left
# its deep weights where they started on this preset, and Dot-Product paths scored near a constant predictor
# (README, "What the study's supernet sees").
#
# Results in $OUT: search_quality.json, the log, a copy of the search store and the finished finals.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results}"
WORKDIR="${WORKDIR:-data/gpu-study}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT" "$WORKDIR"
export PYTHONUNBUFFERED=1
rc=0
timeout "${STUDY_LIMIT_S:-3600}" "$PY" -m benchmarks.search_quality --preset "${PRESET:-three-field}" --rows "${ROWS:-1250000}" \
    --space small --supernet-steps "${SUPERNET_STEPS:-3000}" --supernet-accumulator "${SUPERNET_ACCUMULATOR:-0}" --seeds "${SEEDS:-5}" --budget "${BUDGET:-200}" --finetune-steps 100 \
    --eval-batches 15 --final-candidates "${FINAL_CANDIDATES:-1}" --workers "${WORKERS:-16}" --final-workers "${FINAL_WORKERS:-${WORKERS:-16}}" --device "${DEVICE:-cuda}" \
    --phase "${PHASE:-all}" --workdir "$WORKDIR" ${CENTRE_DENSE:+--centre-dense} \
    --out "$OUT/search_quality.json" 2>&1 | tee -a "$OUT/study.log" || rc=$?
# a consistent single-file copy of the store (WAL folded in), and the finished final trainings
"$PY" - "$WORKDIR" "$OUT" <<'EOF'
import json, sqlite3, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
if (work / "store.sqlite").exists():
    src, dst = sqlite3.connect(work / "store.sqlite"), sqlite3.connect(out / "store.sqlite")
    src.backup(dst)
    dst.close()
finals = {p.stem: json.loads(p.read_text()) for p in sorted((work / "final").glob("*.json"))}
(out / "finals.json").write_text(json.dumps(finals, indent=1))
print(f"store copied; {len(finals)} final trainings finished")
EOF
exit $rc
