#!/usr/bin/env bash
# Pre-run step: prepares the input. expman skips it while nothing it depends on changed.
set -euo pipefail
mkdir -p data
echo 0 > data/start.txt
