#!/usr/bin/env bash
# The whole test suite: install what is missing, build and run the tests optimised (C++17), then build and run
# them again under AddressSanitizer + UndefinedBehaviorSanitizer with _GLIBCXX_ASSERTIONS, compiled as C++20.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
# ccache (when installed) reuses objects across checkouts in different folders.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
start=$SECONDS

echo "== optimised build (Release, C++17, -Werror)"
# The benchmarks are built as a check that they compile (at -O1: no test times them; docs/benchmarks.md
# builds them to time them).
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DELM_WERROR=ON -DELM_BUILD_BENCHMARKS=ON \
  -DELM_BENCHMARKS_COMPILE_CHECK=ON
cmake --build build -j "$jobs"
echo "== build took $((SECONDS - start)) s"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 900

# The sanitizer stage also builds the loaders' fuzz targets with a driver that replays their seeds and regression
# inputs and mutates them for 2 CPU seconds per target (docs/robustness.md; 40 s of CPU to compile).
# The sanitizer stage builds the tests of the loaders and parsers (io, text, ngram, hmm, word2vec, core) and of the
# neural layers and every product kernel (nn: shape edges, gradient checks, each kernel against the reference),
# leaving out the train folder (the loop over those layers; the training-state and checkpoint files it writes and
# reads are io's, tested here), the attention folder, whose PyTorch parity sweeps run in the optimised stage and whose products
# the nn folder's kernel tests cover at every shape edge, the models folder (parity of models composed of those
# blocks; the files they load go through io's checked reader, which the io folder's bad-input tests exercise), the
# umbrella folder (a compile-time check) and the BLAS routing test (where products go, not memory). Each folder stays one unity unit: cutting nn into units of four
# files compiled the shared templates again in each and took longer on two cores (540 s of CPU against 290 s).
echo "== sanitizer build (address,undefined, C++20)"
san_start=$SECONDS
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
  -DCMAKE_CXX_STANDARD=20 -DELM_SANITIZE=address,undefined -DELM_WERROR=ON \
  -DELM_BUILD_EXAMPLES=OFF -DELM_BUILD_BENCHMARKS=OFF -DELM_HEADER_HYGIENE=OFF -DELM_DOC_SNIPPETS=OFF \
  -DELM_SKIP_TEST_FOLDERS="attention;models;train;umbrella;blas" \
  -DELM_TEST_BIN_DIR="$PWD/build/bin" -DELM_FUZZ_SMOKE=ON
cmake --build build-sanitize -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-sanitize -j "$jobs" --output-on-failure --timeout 1800 -LE consumer
echo "== sanitizer stage took $((SECONDS - san_start)) s; whole run $((SECONDS - start)) s"
