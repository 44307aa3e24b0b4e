#!/bin/sh
# Weak guidance, no top-p filtering: a copy of the embedded model whose sampling defaults are cfg 0.5,
# top-k 0, top-p 1 (the shipped folder is left alone), calibrated at that cfg, then evaluated.
# Run from the repository root (these records came from a checkout of commit 249cf8e).
set -e
W=${W:-/tmp/weak-model}
rm -rf "$W" && cp -r models/fashion-mnist-var "$W" && rm -f "$W/calibration.json"
/usr/bin/python3 -c "
import json; p='$W/manifest.json'; m=json.load(open(p))
m['sampling_defaults'] = {'cfg': 0.5, 'top_k': 0, 'top_p': 1.0}; json.dump(m, open(p, 'w'), indent=1)"
node bin/var-studio.js calibrate --model "$W" --cfg 0.5 --scales 1 --images 100   # calibrate-log.txt, calibration-cfg0.5.json
node bin/var-studio.js eval --model "$W" --per-class 100 --bootstrap 50 --strategy var-scaling,topk-only --out docs/eval/weak-guidance
# search at scale 2 (values from: calibrate --model "$W" --cfg 0.5 --scales 2 --images 100 --dry-run)
# node bin/var-studio.js eval --model "$W" --per-class 100 --bootstrap 50 --strategy var-scaling,topk-only \
#   --search-scales 2 --alpha A --dedup D --out docs/eval/weak-guidance-scale2
