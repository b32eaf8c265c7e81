#!/usr/bin/env bash
# ECG rows of the paper (Table 4): PTB-XL tasks all/diagnostic/subdiagnostic/superdiagnostic,
# fcn_wang with dropout + weight decay and with mixup, each base vs Challenger.
#
#   PTBXL_DIR=/data/ptb-xl recipes/launch/ecg.sh [ACCELERATE_CONFIG] [extra hf-challenger arguments ...]
#
# Environment: PTBXL_DIR (required: the PhysioNet PTB-XL folder), SEEDS (default 5), OUT (default
# outputs), TASKS (default "all diagnostic subdiagnostic superdiagnostic"), VARIANTS (default
# "dropout mixup").
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PTBXL_DIR:?set PTBXL_DIR to the PhysioNet PTB-XL folder (ptbxl_database.csv, records100/)}"
config="recipes/accelerate/${1:-single_gpu.yaml}"; shift || true
seeds="${SEEDS:-5}"; out="${OUT:-outputs}"
for task in ${TASKS:-all diagnostic subdiagnostic superdiagnostic}; do
  for variant in ${VARIANTS:-dropout mixup}; do
    name="ptbxl_${task}_${variant}"
    accelerate launch --config_file "$config" -m hf_challenger.cli compare "recipes/$name.yaml" \
      --seeds "$seeds" --output_dir "$out/$name" --data_dir "$PTBXL_DIR" "$@"
  done
done
