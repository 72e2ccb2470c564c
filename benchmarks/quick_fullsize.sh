#!/usr/bin/env bash
# Issue 20's second timing: the whole quick report (notebooks 00-11, HTML and PDF) from an EMPTY run store on
# full-size PathMNIST-format files, as a user with the real PathMNIST would run it. PathMNIST is not available
# here, so the files are SYNTHETIC (dive.synthetic, the official format and sizes: 89,996 / 10,004 / 7,180 images
# of 28x28x3, nine classes; MNIST 48,000 + 12,000 / 10,000): TIMING ONLY - every number in that report is made
# from synthetic images, and the report says so on every page (data.load reads the SYNTHETIC.json marker).
#
#   benchmarks/quick_fullsize.sh [extra `python -m dive.report` options, e.g. --jobs 2]
#
# Writes the data to $ROOT (default /tmp/dive-fullsize-data) and the report, its run store and the per-notebook
# times to $OUT (default /tmp/dive-fullsize-report; emptied first). The per-notebook times are the report
# command's own "[i/12] ... done in N s" lines, kept in $OUT/quick_fullsize.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
ROOT=${ROOT:-/tmp/dive-fullsize-data}
OUT=${OUT:-/tmp/dive-fullsize-report}

if [ ! -f "$ROOT/SYNTHETIC.json" ]; then
  ROOT="$ROOT" "$PY" - <<'PYEOF'
import os
from dive.synthetic import write_synthetic_root
root = os.environ["ROOT"]
write_synthetic_root(root, datasets=["mnist"], sizes={"train": 48000, "val": 12000, "test": 10000})
write_synthetic_root(root, datasets=["pathmnist"], sizes={"train": 89996, "val": 10004, "test": 7180})
print("synthetic full-size files written to", root)
PYEOF
fi
rm -rf "$OUT" && mkdir -p "$OUT"
lscpu | grep -E "Model name|^CPU\(s\)" | tee "$OUT/quick_fullsize.log"
date -u +"started %Y-%m-%dT%H:%M:%SZ" | tee -a "$OUT/quick_fullsize.log"
start=$(date +%s)
DIVE_REPORTS_DIR="$OUT" "$PY" -m dive.report --profile quick -p data_root "$ROOT" -p data_flag pathmnist \
  -p pretrained False "$@" 2>&1 | tee -a "$OUT/quick_fullsize.log"
echo "wall: $(( $(date +%s) - start )) s (SYNTHETIC full-size PathMNIST-format data: timing only)" \
  | tee -a "$OUT/quick_fullsize.log"
