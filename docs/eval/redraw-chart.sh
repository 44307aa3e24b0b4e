#!/bin/sh
# Redraws eval-chart.png of an eval output folder from its eval.json with the current chart code
# (src-main/eval/chart.ts), e.g. sh docs/eval/redraw-chart.sh docs/eval/curves-alpha
set -e
dir=${1:?usage: redraw-chart.sh EVAL_DIR}
npx tsx -e "
import { readFileSync } from 'node:fs'
import { chartRowsOfEval, writeChart } from './src-main/eval/chart.ts'
const e = JSON.parse(readFileSync('$dir/eval.json', 'utf8'))
const n = e.seeds.last - e.seeds.first + 1
const s = e.seeds.first
void writeChart('$dir/eval-chart.png', chartRowsOfEval(e.rows), e.model.id + ': ' + e.perClass + ' images per class, ' + n + ' per point, seeds ' + s + '..' + (s + n - 1) + ', 95 % bootstrap intervals')
"
