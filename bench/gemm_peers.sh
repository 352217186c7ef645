#!/usr/bin/env bash
# The float products of bench/gemm_bench.c with the candidate libraries
# beside OpenBLAS and lmfuse's kernel: BLIS 0.9.0 (Debian libblis4-serial)
# and oneDNN 2.6.3 (Debian libdnnl2), downloaded with `apt-get download` and
# unpacked under bench/out/peers (nothing is installed, so no alternative
# for libblas.so.3 changes), one thread, pinned to core 0, with
# OPENBLAS_CORETYPE as the environment sets it and then unset.
#
#   cmake --build build --target bench_gemm bench_peak && bench/gemm_peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
P=bench/out/peers
if [ ! -e $P/blis.so ] || [ ! -e $P/dnnl.so ]; then
  mkdir -p $P/deb $P/root
  (cd $P/deb && apt-get download libblis4-serial libdnnl2 ocl-icd-libopencl1)
  for f in $P/deb/*.deb; do dpkg -x "$f" $P/root; done
  ln -sf "$PWD/$P/root/usr/lib/x86_64-linux-gnu/blis-serial/libblis.so.4" $P/blis.so
  ln -sf "$PWD/$P/root/usr/lib/x86_64-linux-gnu/libdnnl.so.2" $P/dnnl.so
fi
export LD_LIBRARY_PATH="$PWD/$P/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LMF_BENCH_BLIS="$PWD/$P/blis.so" LMF_BENCH_DNNL="$PWD/$P/dnnl.so" OMP_NUM_THREADS=1
taskset -c 0 build/bench_peak
taskset -c 0 build/bench_gemm 1
env -u OPENBLAS_CORETYPE taskset -c 0 build/bench_gemm 1
[ -n "${OPENBLAS_CORETYPE:-}" ] || OPENBLAS_CORETYPE=Haswell taskset -c 0 build/bench_gemm 1
