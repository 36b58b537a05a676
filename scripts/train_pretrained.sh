#!/usr/bin/env bash
# Train, evaluate and export the shipped models with the package's own commands.
# Usage: scripts/train_pretrained.sh [name ...]   (default: all). Data root: $VAE_DATA_ROOT or ../shared/data.
# Each run resumes from its last checkpoint if interrupted (runs/<name>/checkpoint).
set -euo pipefail
cd "$(dirname "$0")/.."
export VAE_DATA_ROOT="${VAE_DATA_ROOT:-../shared/data}"
VAE="${VAE:-vae}"

train() {  # train NAME ARGS...: start or resume runs/NAME
  local name=$1; shift
  if [ -f "runs/$name/checkpoint/state.json" ]; then
    $VAE train --out "runs/$name" --resume --no-progress
  else
    $VAE train --out "runs/$name" --no-progress "$@"
  fi
}

ship() {  # ship NAME [EVAL ARGS...]: evaluate runs/NAME and export it to vae/pretrained/NAME
  local name=$1; shift
  if [ "$#" -gt 0 ]; then
    $VAE evaluate "runs/$name" --no-progress --out "runs/$name/evaluation.json" "$@"
    $VAE export "runs/$name" "vae/pretrained/$name" --evaluation "runs/$name/evaluation.json"
  else
    $VAE export "runs/$name" "vae/pretrained/$name"
  fi
}

for name in "${@:-latent2d ae2d cvae default}"; do
  for n in $name; do
    case $n in
      latent2d) train latent2d --kind vae --arch mlp --hidden 512 512 --latent-dim 2 --epochs 30 --batch-size 128 --lr 1e-3 --lr-schedule cosine --min-lr-ratio 0.05 --seed 0
                ship latent2d -k 5000 ;;
      ae2d)     train ae2d --kind ae --arch mlp --hidden 512 512 --latent-dim 2 --epochs 30 --batch-size 128 --lr 1e-3 --lr-schedule cosine --min-lr-ratio 0.05 --seed 0
                ship ae2d ;;
      cvae)     train cvae --kind cvae --arch mlp --hidden 512 512 --latent-dim 16 --epochs 30 --batch-size 128 --lr 1e-3 --lr-schedule cosine --min-lr-ratio 0.05 --warmup 5 --seed 0
                ship cvae -k 5000 ;;
      default)  train default --kind vae --arch mlp --hidden 512 512 --latent-dim 32 --objective iwae --iwae-k 8 --epochs 100 --batch-size 128 --lr 1e-3 --lr-schedule cosine --min-lr-ratio 0.05 --seed 0
                ship default -k 5000 ;;
      *) echo "unknown model $n" >&2; exit 2 ;;
    esac
  done
done
