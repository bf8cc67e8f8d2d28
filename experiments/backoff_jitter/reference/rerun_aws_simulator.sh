#!/usr/bin/env bash
# Rerun the simulator published with the AWS post "Exponential Backoff And Jitter"
# (aws-samples/aws-arch-backoff-simulator, src/backoff_simulator.py at commit 66cb169)
# at 50, 100 and 190 clients, 100 trials each, and write its means to
# aws_simulator_66cb169.csv beside this script (clients, mean time in ms, mean calls,
# policy: Exponential = no jitter, Decorr = decorrelated, EqualJitter = equal,
# FullJitter = full, None = no backoff).
#
# Three edits, nothing else: Python 2's xrange becomes range; the client counts 10..190
# become 50, 100, 190; Python's random module is seeded (20150225, the commit's date),
# so the output is the same on every run. The simulator as published is unseeded.
#
# Usage: experiments/backoff_jitter/reference/rerun_aws_simulator.sh [CLONE]
# CLONE: a clone of the simulator's repository (cloned into a temporary folder if omitted).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
clone="${1:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -z "$clone" ]; then
    clone="$work/aws-arch-backoff-simulator"
    git clone -q https://github.com/aws-samples/aws-arch-backoff-simulator "$clone"
fi
git -C "$clone" show 66cb169:src/backoff_simulator.py \
    | sed -e 's/xrange/range/g' \
          -e 's/for i in range(1, 20):/for i in (5, 10, 19):/' \
          -e 's/^import random$/import random\nrandom.seed(20150225)/' > "$work/bs3.py"
(cd "$work" && python3 bs3.py)
cp "$work/backoff_results.csv" "$here/aws_simulator_66cb169.csv"
cat "$here/aws_simulator_66cb169.csv"
