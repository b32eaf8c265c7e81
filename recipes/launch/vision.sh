#!/usr/bin/env bash
# Vision rows of the paper (Table 2, Figures 3-4): tinyMNIST, MNIST, CIFAR-10, ablations, top-K sweep.
#
#   recipes/launch/vision.sh [ACCELERATE_CONFIG] [extra hf-challenger arguments ...]
#
# ACCELERATE_CONFIG: a file in recipes/accelerate/ (default single_gpu.yaml). Environment:
#   SEEDS (default 5), OUT (default outputs), MNIST_DIR / CIFAR10_DIR (folders with the upstream
#   files; empty: the Hugging Face Hub), RECIPES (space-separated subset of the recipe names below).
set -euo pipefail
cd "$(dirname "$0")/../.."
config="recipes/accelerate/${1:-single_gpu.yaml}"; shift || true
seeds="${SEEDS:-5}"; out="${OUT:-outputs}"
recipes="${RECIPES:-tiny_mnist tiny_mnist_ablations tiny_mnist_topk tiny_mnist_full_test mnist cifar10}"
for name in $recipes; do
  data=()
  case "$name" in
    mnist|tiny_mnist_full_test) [[ -n "${MNIST_DIR:-}" ]] && data=(--data_dir "$MNIST_DIR") ;;
    cifar10) [[ -n "${CIFAR10_DIR:-}" ]] && data=(--data_dir "$CIFAR10_DIR") ;;
  esac
  accelerate launch --config_file "$config" -m hf_challenger.cli compare "recipes/$name.yaml" \
    --seeds "$seeds" --output_dir "$out/$name" "${data[@]}" "$@"
done
