#!/usr/bin/env bash
# One short script for a GPU machine: the GPU tests, then the supernet training-throughput
# benchmark on the GPU and on the CPU (2 threads) for comparison. A few minutes in all.
# Results land in ${OUT:-benchmarks/results}/ as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
"$PY" -m pytest -q -m gpu tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.txt"
"$PY" -m nasrec_lab.cli bench supernet --device cuda --steps 100 --inference-batch 16384 \
    --out "$OUT/supernet_cuda.json" 2>&1 | tee "$OUT/supernet_cuda.txt"
"$PY" -m nasrec_lab.cli bench supernet --device cpu --steps 10 --out "$OUT/supernet_cpu.json" 2>&1 \
    | tee "$OUT/supernet_cpu.txt"
