#!/usr/bin/env bash
# Installs what lmfuse needs on Debian 12, only where missing.
#   scripts/deps.sh build   compiler, cmake, zlib, cJSON, OpenBLAS, npm (data fetch), python3
#   scripts/deps.sh test    + clang and libFuzzer, irstlm, sphinxbase-utils and pocketsphinx-en-us (peer tests)
#   scripts/deps.sh bench   + irstlm, hyperfine, GNU time, scikit-learn (numpy, scipy)
#   scripts/deps.sh asr     + flite, sox, pocketsphinx and its en-us models (bench/asr_build.sh)
# Each need is "command-or-file:debian-package"; present commands are kept
# (npm from NodeSource, say), missing ones are installed with apt-get.
set -euo pipefail
need=(gcc:build-essential make:build-essential cmake:cmake npm:npm python3:python3 tar:tar
      /usr/include/zlib.h:zlib1g-dev /usr/include/cjson/cJSON.h:libcjson-dev
      /usr/lib/x86_64-linux-gnu/libopenblas.so:libopenblas-dev)
case "${1:-build}" in
  build) ;;
  test) need+=(clang:clang /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a:libclang-rt-14-dev
               compile-lm:irstlm sphinx_lm_convert:sphinxbase-utils
               /usr/share/pocketsphinx/model/en-us/en-us.lm.bin:pocketsphinx-en-us) ;;
  asr) need+=(flite:flite sox:sox pocketsphinx_batch:pocketsphinx
              /usr/share/pocketsphinx/model/en-us/en-us.lm.bin:pocketsphinx-en-us) ;;
  bench) need+=(compile-lm:irstlm hyperfine:hyperfine /usr/bin/time:time
                /usr/lib/python3/dist-packages/numpy/__init__.py:python3-numpy
                /usr/lib/python3/dist-packages/scipy/__init__.py:python3-scipy
                /usr/lib/python3/dist-packages/sklearn/__init__.py:python3-sklearn) ;;
  *) echo "usage: $0 build|test|bench|asr" >&2; exit 2 ;;
esac
missing=()
for n in "${need[@]}"; do
  what=${n%%:*} pkg=${n#*:}
  if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
  # irstlm installs its tools under /usr/lib/irstlm/bin
  [ "$what" = compile-lm ] && [ -x /usr/lib/irstlm/bin/compile-lm ] && continue
  [[ " ${missing[*]:-} " == *" $pkg "* ]] || missing+=("$pkg")
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
