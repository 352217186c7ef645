#!/usr/bin/env bash
# Installs what lmfuse needs on Debian 12, only where missing.
#   scripts/deps.sh build   compiler, cmake, npm (data fetch)
#   scripts/deps.sh test    + clang/libFuzzer, python3, irstlm (peer tests)
#   scripts/deps.sh bench   + irstlm, hyperfine
set -euo pipefail
want=(build-essential cmake npm python3)
case "${1:-build}" in
  build) ;;
  test) want+=(clang libclang-rt-14-dev irstlm) ;;
  bench) want+=(irstlm hyperfine time) ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "lmfuse: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "lmfuse: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2 || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
