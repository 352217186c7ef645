#!/usr/bin/env bash
# Builds lmfuse and runs the whole test suite (unit tests, CLI tests, peer
# tests, Brown accuracy against KenLM's figures).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
scripts/build.sh
# the Brown accuracy tests need the corpus, the labelled-task tests the
# SpamAssassin messages too; without network those parts are skipped
build/lmfuse data fetch brown || echo "lmfuse: could not fetch Brown; its tests will be skipped" >&2
build/lmfuse data fetch spam || echo "lmfuse: could not fetch SpamAssassin; its tests will be skipped" >&2
cd build && ctest --output-on-failure -j2
