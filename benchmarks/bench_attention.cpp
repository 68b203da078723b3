// SPDX-License-Identifier: MIT
// Multi-head attention (C = 768, H = 12) forward and forward+backward at T in {128, 512, 2048}, B in {1, 8},
// and a BERT-base encoder block forward+backward, against PyTorch on the same shapes in the same run.
//
// PyTorch runs first, in a child python3 process (torch.set_num_threads(ELM_BENCH_TORCH_THREADS, default 1)),
// with nn.MultiheadAttention(batch_first=True, need_weights=False) and nn.TransformerEncoderLayer; its median
// times become the counters torch_ms and ratio (elm time / PyTorch time; below 1 means elm is faster).
// Set ELM_BENCH_TORCH=0 to skip it. GFLOP/s counts the matrix products only (projections 8 B T C^2, scores
// and weighted sums 4 B T^2 C forward; causal masking is not used here, so nothing is skipped), and
// peak_1core is that rate over one core's peak (see bench_core.cpp for how the peak is found).
// cache_MB is what forward keeps for backward: linear in T on the blocked path, quadratic on the plain one.
#include <benchmark/benchmark.h>

#include "python_peer.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/multi_head_attention.hpp"
#include "elm/nn/transformer_block.hpp"

namespace {

using elm::Index;
using elm::Matrix;

double per_core_peak_gflops() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  double mhz = 0;
  int lanes = 4;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) == 0 && mhz == 0) mhz = std::stod(line.substr(line.find(':') + 1));
    if (line.rfind("flags", 0) == 0 && (line.find(" avx2") != std::string::npos || line.find(" avx512f") != std::string::npos))
      lanes = 8;
  }
  int fma = 2;
  if (const char* units = std::getenv("ELM_FMA_UNITS")) fma = std::atoi(units);
  return fma * lanes * 2.0 * mhz / 1000.0;
}

std::map<std::string, double>& torch_ms() {
  static std::map<std::string, double> times;
  return times;
}

// The peer: same shapes, float32, median of a few runs after a warm-up. Prints "name ms" lines.
constexpr const char* torch_script = R"PY(
import sys, time, statistics, torch
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
C, H = 768, 12
def timeit(f, reps):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3
for T, B in ((128, 1), (128, 8), (512, 1), (512, 8), (2048, 1), (2048, 8)):
    reps = 1 if B * T >= 8192 else 3
    m = torch.nn.MultiheadAttention(C, H, batch_first=True)
    x = torch.randn(B, T, C)
    m.eval()
    def fwd():
        with torch.no_grad():
            m(x, x, x, need_weights=False)
    print(f"mha_forward/{T}/{B}", timeit(fwd, reps), flush=True)
    m.train()
    xg = x.clone().requires_grad_(True)
    g = torch.randn(B, T, C)
    def fwdbwd():
        y, _ = m(xg, xg, xg, need_weights=False)
        y.backward(g)
    print(f"mha_forward_backward/{T}/{B}", timeit(fwdbwd, reps), flush=True)
layer = torch.nn.TransformerEncoderLayer(C, H, 3072, dropout=0.0, activation="gelu", batch_first=True)
layer.train()
for T, B in ((128, 8),):
    x = torch.randn(B, T, C, requires_grad=True)
    g = torch.randn(B, T, C)
    def enc():
        layer(x).backward(g)
    print(f"encoder_forward_backward/{T}/{B}", timeit(enc, 3), flush=True)
)PY";

void run_torch_peer() {
  for (const std::string& text : elm_bench::run_python_peer(torch_script, "elm_bench_attention_peer.py")) {
    std::istringstream line(text);
    std::string name;
    double ms = 0;
    if (line >> name >> ms) torch_ms()[name] = ms;
  }
}

void report(benchmark::State& state, const std::string& key, double flops, double tokens, double cache_bytes,
            double elm_seconds) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.counters["peak_1core"] =
      benchmark::Counter(flops / (per_core_peak_gflops() * 1e9), benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(int64_t(tokens) * int64_t(state.iterations()));
  if (cache_bytes > 0) state.counters["cache_MB"] = cache_bytes / 1e6;
  auto it = torch_ms().find(key);
  if (it != torch_ms().end()) {
    state.counters["torch_ms"] = it->second;
    // elm's mean wall time per iteration over PyTorch's median
    state.counters["ratio"] = elm_seconds * 1e3 / double(state.iterations()) / it->second;
  }
}

template <typename Cache>
double cache_bytes(const Cache& c) {
  double n = double(c.query.size() + c.key.size() + c.value.size() + c.q.size() + c.k.size() + c.v.size() +
                    c.attended.size() + c.plain.weights.size() + c.plain.keep.size() + c.blocked.lse.size());
  return n * sizeof(float);
}

template <typename Scalar>
void mha(benchmark::State& state, bool backward, elm::nn::AttentionPath path) {
  const Index T = state.range(0), B = state.range(1), C = 768, H = 12;
  elm::Rng rng(1);
  elm::nn::MultiHeadAttentionConfig config{C, H};
  config.path = path;
  elm::nn::MultiHeadAttention<Scalar> m(config);
  m.reset_parameters(rng);
  Matrix<Scalar> x(C, B * T), g(C, B * T), y, dx;
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(g, 0.0, 1.0);
  const elm::nn::AttentionMask<Scalar> none;
  typename elm::nn::MultiHeadAttention<Scalar>::Cache cache;
  auto step = [&] {
    if (backward) {
      m.forward(x, B, none, y, &cache);
      m.backward(cache, g, dx);
      benchmark::DoNotOptimize(dx.data());
    } else {
      m.forward(x, B, none, y);
      benchmark::DoNotOptimize(y.data());
    }
    benchmark::ClobberMemory();
  };
  step();  // untimed warm-up, as the PyTorch peer's
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) step();
  const double fwd = 8.0 * double(B * T) * double(C * C) + 4.0 * double(B) * double(T * T) * double(C);
  const std::string key = std::string(backward ? "mha_forward_backward/" : "mha_forward/") + std::to_string(T) + "/" +
                          std::to_string(B);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report(state, path == elm::nn::AttentionPath::automatic ? key : std::string(), backward ? 3 * fwd : fwd,
         double(B * T), backward ? cache_bytes(cache) : 0.0, seconds);
}

void mha_forward(benchmark::State& s) { mha<float>(s, false, elm::nn::AttentionPath::automatic); }
void mha_forward_backward(benchmark::State& s) { mha<float>(s, true, elm::nn::AttentionPath::automatic); }
void mha_forward_backward_plain(benchmark::State& s) { mha<float>(s, true, elm::nn::AttentionPath::plain); }
void mha_forward_backward_blocked(benchmark::State& s) { mha<float>(s, true, elm::nn::AttentionPath::blocked); }

void encoder_forward_backward(benchmark::State& state) {
  const Index T = state.range(0), B = state.range(1);
  elm::nn::TransformerConfig config;
  config.width = 768;
  config.heads = 12;
  config.intermediate = 3072;
  config.dropout = 0.0;
  config.activation = elm::nn::ActivationKind::gelu;
  elm::Rng rng(2);
  elm::nn::TransformerEncoderLayer<float> layer(config);
  layer.reset_parameters(rng);
  Matrix<float> x(768, B * T), g(768, B * T), y, dx;
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(g, 0.0, 1.0);
  const elm::nn::AttentionMask<float> none;
  elm::nn::TransformerEncoderLayer<float>::Cache cache;
  auto step = [&] {
    layer.forward(x, B, none, y, &cache);
    layer.zero_grad();
    layer.backward(cache, g, dx);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  };
  step();  // untimed warm-up, as the PyTorch peer's
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) step();
  const double C = 768, F = 3072, N = double(B * T);
  const double fwd = 8.0 * N * C * C + 4.0 * double(B) * double(T * T) * C + 4.0 * N * C * F;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report(state, "encoder_forward_backward/" + std::to_string(T) + "/" + std::to_string(B), 3 * fwd, N, 0.0, seconds);
}

void grid(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "B"});
  for (int T : {128, 512, 2048})
    for (int B : {1, 8}) b->Args({T, B});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
}

}  // namespace

BENCHMARK(mha_forward)->Apply(grid);
BENCHMARK(mha_forward_backward)->Apply(grid);
// Plain against blocked; the B = 1 cases from T = 512 to 4096 are there to measure each path's peak memory, one
// case per process (--benchmark_filter, under /usr/bin/time -v): blocked grows linearly in T, plain as T^2.
void memory_grid(benchmark::internal::Benchmark* b) {
  b->ArgNames({"T", "B"})->Args({128, 8})->Args({512, 8});
  for (int T : {512, 1024, 2048, 4096}) b->Args({T, 1});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(mha_forward_backward_plain)->Apply(memory_grid);
BENCHMARK(mha_forward_backward_blocked)->Apply(memory_grid);
BENCHMARK(encoder_forward_backward)->ArgNames({"T", "B"})->Args({128, 8})->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  run_torch_peer();
  benchmark::AddCustomContext("per-core peak GFLOP/s", std::to_string(per_core_peak_gflops()));
  benchmark::AddCustomContext("torch threads", std::getenv("ELM_BENCH_TORCH_THREADS") ? std::getenv("ELM_BENCH_TORCH_THREADS") : "1");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
