#!/usr/bin/env bash
# The whole test suite: install what is missing, build and run the tests optimised (C++17), then build and run
# them again under AddressSanitizer + UndefinedBehaviorSanitizer with _GLIBCXX_ASSERTIONS, compiled as C++20, then
# the parallel paths under ThreadSanitizer with OpenMP.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
# ccache (when installed) reuses objects across checkouts in different folders.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
start=$SECONDS

echo "== optimised build (Release at -O1, C++17, -Werror)"
# -O1, not Release's -O3: the tests check results, not speed, and -O1 compiles the Eigen-heavy units in about 0.6 of
# -O3's time (tests/models alone, 2026-12-03, under the same load: 159 s against 263 s of CPU) while the suite still runs in about a minute.
# scripts/demo.sh and the benchmarks (docs/benchmarks.md) build at -O3. The benchmarks are built here as a check that
# they compile.
# ELM_MPI (Open MPI, installed by setup.sh): elm-ngram and the dist tests are MPI programs here, and CTest runs the
# sharded n-gram estimates and the communicator's tests in two processes under mpirun (tests/dist/mpirun.sh).
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DELM_DEV_OPTIMIZATION=-O1 -DELM_WERROR=ON \
  -DELM_BUILD_BENCHMARKS=ON -DELM_BENCHMARKS_COMPILE_CHECK=ON -DELM_SKIP_TEST_FOLDERS=threads -DELM_MPI=ON
cmake --build build -j "$jobs"
echo "== build took $((SECONDS - start)) s"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 900

# The sanitizer stage builds what reads files and touches raw memory: the tests of the loaders and parsers (io, text,
# ngram, hmm, word2vec, core), the loaders' fuzz targets (docs/robustness.md) over their seeds and regression inputs
# and 1 CPU second of mutations per target, and from the nn folder the product and element-wise kernels at every shape
# edge (test_packed_lhs, which compares every kernel with the reference path) with nn's file tests (training state,
# checkpoints, pretrained embeddings) and parameter visits. Left to the optimised stage: nn's gradient checks and
# PyTorch parity sweeps (Eigen expressions over Eigen-owned memory) and the second run of the nn tests on the
# reference path, the train folder (the loop over those layers), the dist folder's data-parallel training runs (that
# loop over a GPT-2 and an LSTM LM; the gradient buckets' packing and the batch shards stay here), the attention and
# cnn folders (parity sweeps; their products are the kernels tested here), the models folder (models composed of those blocks; the files they load go
# through io's checked reader), the umbrella folder (a compile-time check) and the BLAS routing test (where products
# go, not memory).
# The threads folder is left to the ThreadSanitizer stage below, the one build where its checks can fail on a race.
# At -O0: the sanitizers check the same accesses at any optimisation level, and the instrumented Eigen-heavy units
# compile in half the time of -O1 (2026-12-04, cold, two units at a time: hmm 112 s against 225 s, word2vec 34 s
# against 71 s; nn's kernel tests 104 s against about 250 s), while the tests run slower but still briefly (the
# kernel tests 85 s, hmm's 39 s, the others 5 s or less).
echo "== sanitizer build (address,undefined, C++20)"
san_start=$SECONDS
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O0" \
  -DCMAKE_CXX_STANDARD=20 -DELM_SANITIZE=address,undefined -DELM_WERROR=ON \
  -DELM_BUILD_EXAMPLES=OFF -DELM_BUILD_BENCHMARKS=OFF -DELM_HEADER_HYGIENE=OFF -DELM_DOC_SNIPPETS=OFF \
  -DELM_SKIP_TEST_FOLDERS="attention;cnn;models;seq2seq;threads;train;umbrella;blas" \
  -DELM_TEST_FOLDER_FILTERS="nn=test_packed_lhs|test_training_state|test_embedding_pretrained|test_parameter;dist=test_communicator|test_gradient_allreduce" \
  -DELM_TEST_BIN_DIR="$PWD/build/bin" -DELM_FUZZ_SMOKE=ON -DELM_FUZZ_SMOKE_SECONDS=1 -DELM_REFERENCE_PATH_RUNS=OFF
cmake --build build-sanitize -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-sanitize -j "$jobs" --output-on-failure --timeout 1800 -LE consumer
echo "== sanitizer stage took $((SECONDS - san_start)) s"

# ThreadSanitizer over the parallel paths (tests/threads: HMM over many sequences, the products, attention, the
# recurrent cells, batch tokenization, one tokenizer and one n-gram model shared by several threads), built with
# clang and OpenMP: GCC's OpenMP runtime is not instrumented, so TSan would see its barriers as races; LLVM's libomp
# with its Archer tool tells TSan what its barriers and reductions order. Run with the team larger than the cores.
echo "== thread sanitizer build (clang, OpenMP with Archer)"
tsan_start=$SECONDS
archer=$(ls /usr/lib/llvm-*/lib/libarcher.so 2>/dev/null | sort -V | tail -n 1)
[ -n "$archer" ] || { echo "no libarcher.so (Debian: libomp-dev)"; exit 1; }
cmake -S . -B build-tsan -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
  -DELM_SANITIZE=thread -DELM_OPENMP=ON -DELM_WERROR=ON -DELM_ONLY_TEST_FOLDERS=threads \
  -DELM_BUILD_EXAMPLES=OFF -DELM_BUILD_BENCHMARKS=OFF -DELM_HEADER_HYGIENE=OFF -DELM_DOC_SNIPPETS=OFF \
  -DELM_REFERENCE_PATH_RUNS=OFF
cmake --build build-tsan -j "$jobs"
OMP_TOOL_LIBRARIES="$archer" TSAN_OPTIONS="halt_on_error=1:ignore_noninstrumented_modules=1" \
  ctest --test-dir build-tsan --output-on-failure --timeout 900 -LE consumer
echo "== thread sanitizer stage took $((SECONDS - tsan_start)) s; whole run $((SECONDS - start)) s"
