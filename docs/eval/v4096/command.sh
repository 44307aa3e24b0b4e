#!/bin/sh
# The less saturated variant of issue 13, item 5: the embedded model's recipe with a 4096-entry codebook
# (VQ-VAE 1200 steps, VAR 1200 steps, snapshots kept at steps 400 and 800), exported beside the repository
# with the shipped classifier (so that accuracy, IS and FID are measured by the same network as the
# embedded model's figures), calibrated at cfg 3 and 1, then evaluated at 2000 images per row (cfg 3).
# Run from the repository root: sh docs/eval/v4096/command.sh [train] [CHECKPOINT ...]
set -e
RUN=${RUN:-models/runs/v4096}
OUT=${OUT:-/tmp/v4096}
D=docs/eval/v4096
if [ "$1" = train ]; then
  shift
  ( cd models && /usr/bin/python3 -m var_tools.train pipeline --out "../$RUN" --vq-steps 1200 --var-steps 1200 \
      --vocab-size 4096 --keep-at 400 800 )
fi
[ $# -gt 0 ] || set -- var-step400.pt var-step800.pt var.pt
for CK in "$@"; do
  STEP=$(echo "$CK" | sed -e 's/var-step//' -e 's/\.pt$//' -e 's/^var$/1200/')
  M="$OUT/s$STEP"
  ( cd models && /usr/bin/python3 -m var_tools.export trained --run "../$RUN" --checkpoint "$CK" --out "$M" --force \
      --no-preview --id "fashion-mnist-var-d4-v4096-s$STEP" --name "Fashion-MNIST VAR d4, 4096 codes, step $STEP" )
  # the shipped classifier, byte for byte, and its manifest entries
  cp models/fashion-mnist-var/classifier.onnx "$M/"
  /usr/bin/python3 - "$M" <<'PY'
import json, sys
shipped = json.load(open('models/fashion-mnist-var/manifest.json'))
p = sys.argv[1] + '/manifest.json'
m = json.load(open(p))
m['graphs']['classifier'] = shipped['graphs']['classifier']
m['files']['classifier.onnx'] = shipped['files']['classifier.onnx']
json.dump(m, open(p, 'w'), indent=1)
PY
  node bin/var-studio.js calibrate --model "$M" --images 200 --cfg 3,1 2>&1 | tee "$D/calibrate-s$STEP.txt"
  cp "$M/calibration.json" "$D/calibration-s$STEP.json"
  mkdir -p "$D/s$STEP-calibrated"
  node bin/var-studio.js eval --model "$M" --per-class 200 --bootstrap 100 --out "$D/s$STEP-calibrated" \
    2>&1 | tee "$D/s$STEP-calibrated/log.txt"
done
