#!/usr/bin/env bash
# The lr-study's sweep made in a folder of its own, for explore.ipynb:
#   bash make_study.sh /tmp/lr-study && EXPMAN_STUDY=/tmp/lr-study jupyter lab explore.ipynb
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
study=${1:?usage: make_study.sh FOLDER (a new folder)}
if [ -e "$study" ]; then
    echo "make_study.sh: $study already exists" >&2
    exit 2
fi
cp -R "$here/../lr-study" "$study"
cd "$study"
rm -rf runs .expman outputs results data/clean.csv
git init -q
git add -A
git -c user.name=expman -c user.email=expman@example.invalid commit -qm "lr-study"
# LR=500 overflows, so one point in four fails: expman sweep then exits 1, as it should.
expman sweep lr-grid --jobs 2 || [ $? -eq 1 ]
