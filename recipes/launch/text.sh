#!/usr/bin/env bash
# Text rows of the paper (Table 3): Reuters-21578 and 20 Newsgroups with the GloVe text CNN.
#
#   recipes/launch/text.sh [ACCELERATE_CONFIG] [extra hf-challenger arguments ...]
#
# Environment: SEEDS (default 5), OUT (default outputs), REUTERS_DIR / NEWSGROUPS_DIR (upstream
# files; empty: the Hub), GLOVE (GloVe 100-d text file; empty: $HF_CHALLENGER_GLOVE or
# ~/.cache/hf_challenger/glove/glove.6B.100d.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
config="recipes/accelerate/${1:-single_gpu.yaml}"; shift || true
seeds="${SEEDS:-5}"; out="${OUT:-outputs}"
glove=(); [[ -n "${GLOVE:-}" ]] && glove=(--glove_path "$GLOVE")
for name in reuters newsgroups; do
  data=()
  case "$name" in
    reuters) [[ -n "${REUTERS_DIR:-}" ]] && data=(--data_dir "$REUTERS_DIR") ;;
    newsgroups) [[ -n "${NEWSGROUPS_DIR:-}" ]] && data=(--data_dir "$NEWSGROUPS_DIR") ;;
  esac
  accelerate launch --config_file "$config" -m hf_challenger.cli compare "recipes/$name.yaml" \
    --seeds "$seeds" --output_dir "$out/$name" "${data[@]}" "${glove[@]}" "$@"
done
