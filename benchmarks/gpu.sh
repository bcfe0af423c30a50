#!/usr/bin/env bash
# One short script for a GPU machine: the GPU tests, the supernet training-throughput benchmark
# and the search benchmark at the paper's scoring setting (500 fine-tuning steps of 512, 150
# validation batches of 8192) on the GPU, then the supernet benchmark on the CPU (2 threads) for
# comparison. A few minutes in all.
# Results land in ${OUT:-benchmarks/results}/ as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
tests=0
"$PY" -m pytest -q -m gpu tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.txt" || tests=$?  # the benchmarks still run
"$PY" -m nasrec_lab.cli bench supernet --device cuda --steps 100 --inference-batch 16384 \
    --out "$OUT/supernet_cuda.json" 2>&1 | tee "$OUT/supernet_cuda.txt"
"$PY" -m nasrec_lab.cli bench search --device cuda --finetune-steps 500 --eval-batches 150 --candidates 20 \
    --reference-candidates 3 --out "$OUT/search_cuda.json" 2>&1 | tee "$OUT/search_cuda.txt"
timeout 120 "$PY" -m nasrec_lab.cli bench supernet --device cpu --steps 10 --out "$OUT/supernet_cpu.json" 2>&1 \
    | tee "$OUT/supernet_cpu.txt"
exit $tests
