#!/usr/bin/env bash
# GPU check of `make bench`: cases (c) ResNet18 224 px + augmentations and (e) Xception 168 px on CUDA, dive
# (its batches on the GPU, the precision plan on "auto": bf16 or fp16 + GradScaler, channels_last) against the
# same tutorial loop as on the CPU (fp32, contiguous, DataLoader over medmnist's PIL dataset, best num_workers),
# interleaved rounds; then Xception@168 seconds per PathMNIST-sized epoch (89,996 images) next to the report's
# 10-16 minutes per epoch on a V100. Also the plan table of every model family on this GPU.
#
#   benchmarks/gpu_check.sh [extra benchmarks.throughput options]     (writes reports/bench_gpu.json)
#
# Then case (h), time to the published accuracy (benchmarks/time_to_target.py: the official MedMNIST protocol
# against dive.recipes.TIME_TO_TARGET_RECIPE, the same rule, 3 seeds each, interleaved), on CUDA, twice:
#   1. real PneumoniaMNIST from $DIVE_DATA (H_FLAG=breastmnist for another real file; H_CAP=K caps the official
#      epochs, default its 100) -> reports/bench_gpu_h.json; skipped, and said so, when the file is absent;
#   2. full-size PathMNIST-format SYNTHETIC data (dive.synthetic, 89,996 / 10,004 / 7,180 images, written to a
#      temporary directory): timing only (seconds per epoch and per run of both sides; the published values are the
#      real file's, so the bench draws no time-to-target verdict), official epochs capped at H_SYN_CAP (default 3)
#      -> reports/bench_gpu_h_pathmnist_synthetic.json.
#
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-reports/bench_gpu.json}

"$PY" - <<'EOF' || exit 2
import sys
import torch
if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device (torch.cuda.is_available() is False); run this on a GPU machine")
print(f"GPU: {torch.cuda.get_device_name(0)}, capability {torch.cuda.get_device_capability(0)}, "
      f"bf16 {torch.cuda.is_bf16_supported()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
EOF

"$PY" - <<'EOF'
import torch
from dive.models import MODEL_NAMES
from dive.precision import plan
for name in MODEL_NAMES:
    p = plan(device=torch.device("cuda"), model_name=name)
    print(f"plan auto {name:<13} {p.precision} channels_last={p.channels_last} compile={p.compile}  ({p.reason})")
EOF

"$PY" -m benchmarks.throughput --device cuda --cases c e --steps "${STEPS:-30}" --rounds "${ROUNDS:-5}" \
    --workers 0 2 4 8 --out "$OUT" "$@"

H_FLAG=${H_FLAG:-pneumoniamnist}
if [ -f "${DIVE_DATA:-data}/medmnist/$H_FLAG.npz" ]; then
  "$PY" -m benchmarks.throughput --device cuda --cases h --target-flag "$H_FLAG" --data-root "${DIVE_DATA:-data}" \
      --official-cap "${H_CAP:-100}" --out "${OUT_H:-reports/bench_gpu_h.json}"
else
  echo "gpu_check: case (h) on real $H_FLAG skipped: ${DIVE_DATA:-data}/medmnist/$H_FLAG.npz not found (set DIVE_DATA)"
fi

SYN=$(mktemp -d "${TMPDIR:-/tmp}/dive-gpu-h-XXXXXX")
trap 'rm -rf "$SYN"' EXIT
SYN_ROOT="$SYN" "$PY" - <<'EOF'
import os
from dive.reference import DATASET_FACTS
from dive.synthetic import write_synthetic_root
facts = DATASET_FACTS["pathmnist"]
sizes = {s: facts[s] for s in ("train", "val", "test")}
write_synthetic_root(os.environ["SYN_ROOT"], datasets=["pathmnist"], sizes=sizes)
print(f"gpu_check: SYNTHETIC full-size PathMNIST-format data {sizes} in {os.environ['SYN_ROOT']} (timing only)")
EOF
"$PY" -m benchmarks.throughput --device cuda --cases h --target-flag pathmnist --data-root "$SYN" \
    --official-cap "${H_SYN_CAP:-3}" --out "${OUT_H_SYN:-reports/bench_gpu_h_pathmnist_synthetic.json}"
