#!/usr/bin/env bash
# The training movie on the model card (docs/models.md): the shipped latent2d's recipe (its command is in
# vae/pretrained/latent2d/metrics.json) retrained with --snapshots, then `vae movie`.
# Usage: scripts/make_movie.sh            (all 30 epochs of the recipe, resumed from runs/latent2d-movie if interrupted)
#        EPOCHS=10 scripts/make_movie.sh  (a shorter run of the same recipe: the cosine schedule then spans 10 epochs)
# THREADS (default 1) sets torch's CPU threads. Data root: the package's own ($VAE_DATA_ROOT, else the per-user cache).
set -euo pipefail
cd "$(dirname "$0")/.."
VAE="${VAE:-python -m vae}"
EPOCHS="${EPOCHS:-30}"
THREADS="${THREADS:-1}"
RUN="${RUN:-runs/latent2d-movie}"
OUT="${OUT:-docs/assets/latent2d-training.webp}"

trained() {  # whether the run has trained its EPOCHS epochs
  [ -f "$RUN/checkpoint/state.json" ] && python -c "import json, sys; sys.exit(json.load(open('$RUN/checkpoint/state.json'))['epoch'] < $EPOCHS)"
}
if trained; then
  echo "$RUN has trained $EPOCHS epochs: drawing the movie only"
elif [ -f "$RUN/checkpoint/state.json" ]; then
  $VAE train --out "$RUN" --resume --epochs "$EPOCHS" --no-progress --threads "$THREADS"  # snapshots continue
else
  $VAE train --out "$RUN" --no-progress --kind vae --arch mlp --hidden 512 512 --latent-dim 2 --epochs "$EPOCHS" \
    --batch-size 128 --lr 1e-3 --lr-schedule cosine --min-lr-ratio 0.05 --seed 0 --snapshots --threads "$THREADS"
fi
$VAE movie "$RUN" --out "$OUT" --frame-ms 400 --hold-ms 2500
# With all 30 epochs, the run is the shipped model's training: say whether its weights equal vae/pretrained/latent2d's.
python - "$RUN" <<'PY'
import sys
import torch
from safetensors.torch import load_file
run, shipped = load_file(f"{sys.argv[1]}/checkpoint/model.safetensors"), load_file("vae/pretrained/latent2d/model.safetensors")
same = run.keys() == shipped.keys() and all(torch.equal(run[k], shipped[k]) for k in run)
print(f"{sys.argv[1]}'s weights " + ("equal the shipped latent2d's bit for bit" if same else
      "differ from the shipped latent2d's (another epoch count, or another machine or thread count)"))
PY
