#!/usr/bin/env bash
# Run stage: the vars of expfile.yaml arrive as environment variables.
set -euo pipefail
mkdir -p results
x=$(cat data/start.txt)
n=0
: > results/trace.txt
while [ "$x" -lt "$GOAL" ]; do
    x=$((x + STEP))
    n=$((n + 1))
    echo "iteration $n: x=$x" | tee -a results/trace.txt
    sleep 0.01        # a step of real work takes time
done
# What is left in $EXPMAN_OUTPUTS is archived with the run at `expman end`.
printf '{"iterations": %d, "final": %d, "step": %d}\n' "$n" "$x" "$STEP" > "$EXPMAN_OUTPUTS/metrics.json"
