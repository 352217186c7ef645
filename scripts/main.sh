#!/usr/bin/env bash
# The main job: install what is missing, build, fetch the Brown corpus, then
# `lmfuse demo`: train a Kneser-Ney 5-gram and the four neural models, tune
# linear, log-linear and gated fusion on valid, print the valid/test table.
# About 15 minutes on 2 cores.  `scripts/main.sh --quick` runs the small
# version on the sample shipped in sample/brown (about 2 minutes, offline).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
scripts/build.sh
LMF=build/lmfuse
quick=0
for a in "$@"; do [ "$a" = --quick ] && quick=1; done
if [ $quick = 0 ]; then
  $LMF data fetch brown
  exec $LMF demo --dir build/demo "$@"
fi
exec $LMF demo --dir build/demo-quick "$@"
