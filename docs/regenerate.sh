#!/bin/bash
# Regenerate every artefact in docs/ and the figures README quotes that depend on the default
# model, after a new default model is published: its indicator rates (written into its card),
# two analyze examples, the screenshots, the dock screenshot, the sample report and two runs of
# the engine benchmark. Scratch output goes to WORK (default /tmp/forensics-docs).
#     bash docs/regenerate.sh [WORK]
set -euo pipefail
cd "$(dirname "$0")/.."
B=.venv/bin
WORK=${1:-/tmp/forensics-docs}
MODEL=models/sbi-dfdc-effnetlite0-vit
export QT_QPA_PLATFORM=offscreen
mkdir -p "$WORK"
rm -rf "$WORK/case1" "$WORK/d3"
$B/python bench/indicator_rates.py --model $MODEL --frames 32 --write-card \
    --json "$WORK/indicator_rates.json"
$B/forensics-app analyze ../shared/data/videos/fake/dfdc_abofeumbvv.mp4 --out "$WORK/case1" \
    | tee "$WORK/analyze_example.txt"
$B/forensics-app analyze ../shared/data/videos/real/liveportrait_d3.mp4 --out "$WORK/d3" \
    --frames 32 | tee "$WORK/analyze_d3.txt"
$B/forensics-app gui "$WORK/d3" --screenshot docs/screenshot_1366.png --window-size 1366x768
$B/forensics-app gui "$WORK/d3" --screenshot docs/screenshot_1600.png --window-size 1600x1000
$B/python docs/make_dock_screenshot.py "$WORK/d3"
$B/python docs/make_sample_report.py
for run in 1 2; do
    $B/python bench/bench_analysis.py --json "$WORK/bench$run.json" | tee "$WORK/bench$run.txt"
done
