#!/usr/bin/env bash
# Runs the tests whose numbers go through matrix products (lmfuse's own
# float and bfloat16 kernels, and OpenBLAS) under every set-up a user's
# machine may have: on AVX-512 CPUs lmfuse's float kernel with 1 and 2
# threads; then its portable path, OpenBLAS (LMFUSE_NO_AVX512=1, what a CPU
# without AVX-512F runs), with OPENBLAS_CORETYPE set to Haswell (as some
# hosts do, because older OpenBLAS builds misdetect new CPUs), set to
# SkylakeX (on AVX-512 CPUs) and unset, each with 1 and 2 BLAS threads; then
# once with LMFUSE_NO_BF16=1 (the portable path of the bfloat16 products;
# test_bf16 then reports itself skipped).  A product's last bits depend on the kernel and the
# thread count, so these tests must state tolerances wherever they compare
# numbers computed through different call shapes.
#   scripts/test_blas_matrix.sh [BUILD_DIR]     (default build/, built by scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -d "$build" ] || { echo "test_blas_matrix: no build directory $build (run scripts/build.sh)" >&2; exit 2; }
tests='^(nn|bf16|gemm|fuse|alloc|train|fuse_cli|cli|comb|classify_nn|classify_linear)$'
cores="Haswell unset"
grep -qw avx512f /proc/cpuinfo && cores="Haswell SkylakeX unset"
status=0
if grep -qw avx512f /proc/cpuinfo; then
  for th in 1 2; do
    echo "-- lmfuse float kernel, OPENBLAS_NUM_THREADS=$th (OpenBLAS for what remains on it)"
    (cd "$build" && env -u OPENBLAS_CORETYPE -u LMFUSE_NO_AVX512 -u LMFUSE_NO_BF16 OPENBLAS_NUM_THREADS=$th \
      ctest --output-on-failure -j2 -R "$tests") >"$build/blas_matrix.log" 2>&1 || status=1
    grep -E "tests passed|\(Skipped\)|\(Failed\)|CHECK failed|FAIL:" "$build/blas_matrix.log" || true
  done
fi
for ct in $cores; do
  for th in 1 2; do
    set -- LMFUSE_NO_AVX512=1 OPENBLAS_NUM_THREADS=$th
    [ "$ct" != unset ] && set -- "$@" OPENBLAS_CORETYPE=$ct
    echo "-- LMFUSE_NO_AVX512=1 OPENBLAS_CORETYPE=$ct OPENBLAS_NUM_THREADS=$th"
    (cd "$build" && env -u OPENBLAS_CORETYPE -u OPENBLAS_NUM_THREADS -u LMFUSE_NO_BF16 "$@" \
      ctest --output-on-failure -j2 -R "$tests") >"$build/blas_matrix.log" 2>&1 || status=1
    grep -E "tests passed|\(Skipped\)|\(Failed\)|CHECK failed|FAIL:" "$build/blas_matrix.log" || true
  done
done
echo "-- LMFUSE_NO_BF16=1 OPENBLAS_NUM_THREADS=2"
(cd "$build" && env -u OPENBLAS_CORETYPE LMFUSE_NO_BF16=1 OPENBLAS_NUM_THREADS=2 \
  ctest --output-on-failure -j2 -R "$tests") >"$build/blas_matrix.log" 2>&1 || status=1
grep -E "tests passed|\(Skipped\)|\(Failed\)|CHECK failed|FAIL:" "$build/blas_matrix.log" || true
[ $status = 0 ] && echo "test_blas_matrix: all passed" || echo "test_blas_matrix: FAILED (see above)" >&2
exit $status
