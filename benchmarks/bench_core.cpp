// SPDX-License-Identifier: MIT
// Single-precision matrix products at GPT-2 small's shapes: Eigen's own kernels (what elm uses by default)
// against OpenBLAS's sgemm in the same run, in GFLOP/s and as a fraction of this machine's peak.
//
// Peak = cores x FMA units per core x FP32 lanes per FMA x 2 flops x clock. Cores and clock come from
// /proc/cpuinfo; lanes from the widest vector extension the CPU reports (16 for AVX-512, 8 for AVX2, 4 for SSE;
// AMD Zen 4 splits each AVX-512 FMA in two: set ELM_FMA_LANES=8 there); FMA units per core default to 2 (Zen 2-5,
// Intel Skylake and later) and can be set with ELM_FMA_UNITS. In a virtual machine /proc/cpuinfo reports the
// nominal clock, below the boost clock, so the fraction of peak is an upper bound. Benchmarks are
// single-threaded unless the build enables OpenMP, so the per-core peak is the one that matters.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"

#ifdef ELM_BENCH_HAVE_BLAS
extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                       const float* beta, float* c, const int* ldc);
extern "C" void openblas_set_num_threads(int);
#endif

namespace {

struct Peak {
  int cores = 1;
  double mhz = 0;
  int lanes = 4;
  int fma_units = 2;
  double per_core_gflops() const { return fma_units * lanes * 2.0 * mhz / 1000.0; }
};

Peak detect_peak() {
  Peak p;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  int processors = 0;
  while (std::getline(in, line)) {
    if (line.rfind("processor", 0) == 0) ++processors;
    if (line.rfind("cpu MHz", 0) == 0 && p.mhz == 0) p.mhz = std::stod(line.substr(line.find(':') + 1));
    if (line.rfind("flags", 0) == 0) {
      if (line.find(" avx512f") != std::string::npos)
        p.lanes = 16;
      else if (line.find(" avx2") != std::string::npos)
        p.lanes = std::max(p.lanes, 8);
    }
  }
  p.cores = processors > 0 ? processors : 1;
  if (const char* units = std::getenv("ELM_FMA_UNITS")) p.fma_units = std::atoi(units);
  if (const char* lanes = std::getenv("ELM_FMA_LANES")) p.lanes = std::atoi(lanes);
  return p;
}

const Peak& peak() {
  static const Peak p = detect_peak();
  return p;
}

// y (out, T) = W^T x, W stored (in, out) as elm stores a PyTorch Linear weight: M = T, K = in, N = out.
struct Shapes {
  elm::Matrix<float> w, x, y;
  Shapes(elm::Index tokens, elm::Index in, elm::Index out) : w(in, out), x(in, tokens), y(out, tokens) {
    elm::Rng rng(1);
    rng.fill_normal(w, 0.0, 0.02);
    rng.fill_normal(x, 0.0, 1.0);
  }
};

void report(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.counters["peak_1core"] = benchmark::Counter(flops / (peak().per_core_gflops() * 1e9),
                                                    benchmark::Counter::kIsIterationInvariantRate);
}

void gemm_eigen(benchmark::State& state) {
  const elm::Index M = state.range(0), K = state.range(1), N = state.range(2);
  Shapes s(M, K, N);
  for (auto _ : state) {
    s.y.noalias() = s.w.transpose() * s.x;
    benchmark::DoNotOptimize(s.y.data());
    benchmark::ClobberMemory();
  }
  report(state, 2.0 * double(M) * double(K) * double(N));
}

#ifdef ELM_BENCH_HAVE_BLAS
void gemm_openblas(benchmark::State& state) {
  openblas_set_num_threads(1);
  const int M = int(state.range(0)), K = int(state.range(1)), N = int(state.range(2));
  Shapes s(M, K, N);
  const float one = 1.0f, zero = 0.0f;
  for (auto _ : state) {
    // Column-major C (N x M) = A^T (N x K) * B (K x M), A = W (K x N), B = x (K x M).
    sgemm_("T", "N", &N, &M, &K, &one, s.w.data(), &K, s.x.data(), &K, &zero, s.y.data(), &N);
    benchmark::DoNotOptimize(s.y.data());
    benchmark::ClobberMemory();
  }
  report(state, 2.0 * double(M) * double(K) * double(N));
}
#endif

void gpt2_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "K", "N"});
  b->Args({64, 768, 768});
  b->Args({64, 768, 3072});
  b->Args({512, 768, 2304});
  b->Args({1, 768, 50257});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(gemm_eigen)->Apply(gpt2_shapes);
#ifdef ELM_BENCH_HAVE_BLAS
BENCHMARK(gemm_openblas)->Apply(gpt2_shapes);
#endif

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const Peak& p = peak();
  benchmark::AddCustomContext("peak", std::to_string(p.cores) + " cores x " + std::to_string(p.fma_units) + " FMA x " +
                                          std::to_string(p.lanes) + " lanes x 2 x " + std::to_string(p.mhz) +
                                          " MHz = " + std::to_string(p.per_core_gflops() * p.cores) + " GFLOP/s (" +
                                          std::to_string(p.per_core_gflops()) + " per core)");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
