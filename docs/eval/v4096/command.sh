#!/bin/sh
# The less saturated variant of issue 13, item 5: the embedded model's recipe with a 4096-entry codebook
# (VQ-VAE 1200 steps, VAR 1200 steps, a snapshot kept at step 400), exported beside the repository
# with the shipped classifier (so that accuracy, IS and FID are measured by the same network as the
# embedded model's figures), calibrated, then evaluated at 2000 images per row. Run from the repository root.
set -e
RUN=${RUN:-models/runs/v4096}
OUT=${OUT:-/tmp/v4096}
( cd models && /usr/bin/python3 -m var_tools.train pipeline --out "../$RUN" --vq-steps 1200 --var-steps 1200 \
    --vocab-size 4096 --keep-at 400 800 )                         # train-log.txt (resumable)
for CK in var-step400.pt var.pt; do
  STEP=$(echo "$CK" | sed -e 's/var-step//' -e 's/\.pt//' -e 's/^var$/1200/')
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
  node bin/var-studio.js calibrate --model "$M" --images 200 --cfg 3,1 2>&1 | tee "docs/eval/v4096/calibrate-s$STEP.txt"
  node bin/var-studio.js eval --model "$M" --per-class 200 --bootstrap 100 --out "docs/eval/v4096/s$STEP-calibrated" \
    2>&1 | tee "docs/eval/v4096/s$STEP-calibrated/log.txt"
done
# the paper's constants on the final model
node bin/var-studio.js eval --model "$OUT/s1200" --per-class 200 --bootstrap 100 --alpha 2.3 --dedup 1.8 \
  --strategy var-scaling,topk-only --out docs/eval/v4096/s1200-paper 2>&1 | tee docs/eval/v4096/s1200-paper/log.txt
