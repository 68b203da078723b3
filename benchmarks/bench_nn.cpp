// SPDX-License-Identifier: MIT
// Neural core against PyTorch on the same shapes in the same run: 2-layer LSTM and GRU training steps (B = 32,
// T = 64, I = 256, H = 512, forward + backward through time) and Linear (768 -> 3072), LayerNorm (768) and GELU (tanh,
// 3072) forward + backward on B T = 1024 tokens (GPT-2 small's MLP and norms at T = 256, B = 4), a narrow Linear
// (128 -> 512 over 736 tokens: the date Transformer's feed-forward on a batch of 32 sources), and Conv2d 3x3
// (padding 1) forward + backward, input gradient included: a batch of 32 64-channel 32x32 images (64 -> 64), and
// the digits CNN's two layers on 8x8 digits in batches of 64 (1 -> 32 at 8x8, 32 -> 64 at 4x4).
//
// PyTorch runs first, in a child python3 process with torch.set_num_threads(ELM_BENCH_TORCH_THREADS, default
// 1); its median times become the counters torch_ms and ratio (elm time / PyTorch time: below 1 means elm is
// faster). Set ELM_BENCH_TORCH=0 to skip it. elm runs on one thread unless the build enables OpenMP.
#include <benchmark/benchmark.h>

#include "python_peer.hpp"

#include <array>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/conv2d.hpp"
#include "elm/nn/gru.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/lstm.hpp"

namespace {

using elm::Index;
using elm::Matrix;
namespace nn = elm::nn;

// Median wall and CPU (process) milliseconds of PyTorch per benchmark.
struct PeerTime {
  double wall_ms = 0, cpu_ms = 0;
};
std::map<std::string, PeerTime>& torch_ms() {
  static std::map<std::string, PeerTime> times;
  return times;
}

constexpr const char* torch_script = R"PY(
import sys, time, statistics, torch
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
def timeit(f, reps):
    f()
    ts, cs = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        f()
        ts.append(time.perf_counter() - t0); cs.append(time.process_time() - c0)
    return "%g %g" % (statistics.median(ts) * 1e3, statistics.median(cs) * 1e3)
B, T, I, H = 32, 64, 256, 512
lstm = torch.nn.LSTM(I, H, num_layers=2, batch_first=True)
x = torch.randn(B, T, I, requires_grad=True)
def lstm_step():
    y, _ = lstm(x)
    y.backward(torch.ones_like(y))
print("lstm", timeit(lstm_step, 3))
gru = torch.nn.GRU(I, H, num_layers=2, batch_first=True)
def gru_step():
    y, _ = gru(x)
    y.backward(torch.ones_like(y))
print("gru", timeit(gru_step, 3))
N, C = 1024, 768
lin = torch.nn.Linear(C, 4 * C)
xl = torch.randn(N, C, requires_grad=True)
dyl = torch.randn(N, 4 * C)
def lin_step():
    lin(xl).backward(dyl)
print("linear", timeit(lin_step, 10))
lin_narrow = torch.nn.Linear(128, 512)
xs = torch.randn(736, 128, requires_grad=True)
dys = torch.randn(736, 512)
def narrow_step():
    lin_narrow(xs).backward(dys)
print("linear_narrow", timeit(narrow_step, 50))
ln = torch.nn.LayerNorm(C)
xn = torch.randn(N, C, requires_grad=True)
dyn = torch.randn(N, C)
def ln_step():
    ln(xn).backward(dyn)
print("layer_norm", timeit(ln_step, 20))
xg = torch.randn(N, 4 * C, requires_grad=True)
def gelu_step():
    torch.nn.functional.gelu(xg, approximate="tanh").backward(dyl)
print("gelu_tanh", timeit(gelu_step, 20))
def conv_case(name, batch, cin, cout, size, reps):
    conv = torch.nn.Conv2d(cin, cout, 3, padding=1)
    xc = torch.randn(batch, cin, size, size, requires_grad=True)
    dyc = torch.randn(batch, cout, size, size)
    def conv_step():
        conv(xc).backward(dyc)
    print(name, timeit(conv_step, reps))
conv_case("conv_32x32", 32, 64, 64, 32, 5)
conv_case("conv_digits_1", 64, 1, 32, 8, 50)
conv_case("conv_digits_2", 64, 32, 64, 4, 50)
)PY";

void run_torch_peer() {
  for (const std::string& text : elm_bench::run_python_peer(torch_script, "elm_bench_nn_peer.py")) {
    std::istringstream line(text);
    std::string name;
    PeerTime t;
    if (line >> name >> t.wall_ms >> t.cpu_ms) torch_ms()[name] = t;
  }
}

// ratio: elm wall time / PyTorch wall time. cpu_ratio: elm CPU time / PyTorch process CPU time, the fairer
// number on a loaded machine when both run one thread (with more PyTorch threads it counts all of them).
void report(benchmark::State& state, const std::string& name, Index tokens, std::clock_t cpu_start) {
  state.SetItemsProcessed(state.iterations() * tokens);
  const double elm_cpu_ms = 1e3 * double(std::clock() - cpu_start) / CLOCKS_PER_SEC / double(state.iterations());
  const auto it = torch_ms().find(name);
  if (it != torch_ms().end()) {
    state.counters["torch_ms"] = it->second.wall_ms;
    state.counters["torch_cpu_ms"] = it->second.cpu_ms;
    state.counters["ratio"] = benchmark::Counter(it->second.wall_ms * 1e-3,
                                                 benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["cpu_ratio"] = elm_cpu_ms / it->second.cpu_ms;
  }
}

// A 2-layer recurrent training step of Net (Lstm or Gru): forward and backward through time from a gradient of
// every output.
template <typename Net>
void recurrent_train_step(benchmark::State& state, const std::string& name) {
  using Scalar = typename Net::scalar_type;
  const Index b = 32, t = 64, in = 256, h = 512;
  elm::Rng rng(1);
  Net net(in, h, 2, rng);
  Matrix<Scalar> x(in, b * t);
  rng.fill_normal(x, 0.0, 1.0);
  const std::vector<Index> lengths(b, t);
  const Matrix<Scalar> dy = Matrix<Scalar>::Ones(h, b * t);
  typename Net::Cache cache;
  Matrix<Scalar> y, dx;
  auto step = [&] {
    net.forward(x, lengths, y, &cache);
    net.backward(cache, dy, dx);
    benchmark::DoNotOptimize(dx.data());
  };
  step();  // untimed, as the PyTorch peer's first call: a training loop's steady state, buffers allocated
  const std::clock_t cpu_start = std::clock();
  for (auto _ : state) step();
  report(state, name, b * t, cpu_start);
}

template <typename Scalar>
void BM_LstmTrainStep(benchmark::State& state) {
  recurrent_train_step<nn::Lstm<Scalar>>(state, "lstm");
}

template <typename Scalar>
void BM_GruTrainStep(benchmark::State& state) {
  recurrent_train_step<nn::Gru<Scalar>>(state, "gru");
}

// Linear in -> out, forward and backward (input and parameter gradients) over n tokens.
template <typename Scalar>
void linear_step(benchmark::State& state, const std::string& name, Index n, Index in, Index out) {
  elm::Rng rng(2);
  nn::Linear<Scalar> lin(in, out, rng);
  Matrix<Scalar> x(in, n), dy(out, n), y, dx;
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(dy, 0.0, 1.0);
  typename nn::Linear<Scalar>::Cache cache;
  auto step = [&] {
    lin.forward(x, y, &cache);
    lin.backward(cache, dy, dx);
    benchmark::DoNotOptimize(dx.data());
  };
  step();  // untimed warm-up, as the PyTorch peer's
  const std::clock_t cpu_start = std::clock();
  for (auto _ : state) step();
  report(state, name, n, cpu_start);
}

template <typename Scalar>
void BM_LinearForwardBackward(benchmark::State& state) {
  linear_step<Scalar>(state, "linear", 1024, 768, 4 * 768);
}

// A Linear too narrow for the shape above to say anything about it: 128 -> 512 over 736 tokens, where a plain
// build's routing decides between the packed kernel and Eigen's (SSE2) product.
template <typename Scalar>
void BM_LinearNarrowForwardBackward(benchmark::State& state) {
  linear_step<Scalar>(state, "linear_narrow", 736, 128, 512);
}

// Linear at the shapes where the dense routing's thresholds lie (in, out, tokens), elm alone: run it once as it is
// and once with ELM_PRODUCT_KERNEL=reference (every product Eigen's) to compare the two paths.
template <typename Scalar>
void BM_LinearRouting(benchmark::State& state) {
  linear_step<Scalar>(state, "", state.range(2), state.range(0), state.range(1));
}

template <typename Scalar>
void BM_LayerNormForwardBackward(benchmark::State& state) {
  const Index n = 1024, c = 768;
  elm::Rng rng(3);
  nn::LayerNorm<Scalar> norm(c);
  Matrix<Scalar> x(c, n), dy(c, n), y, dx;
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(dy, 0.0, 1.0);
  typename nn::LayerNorm<Scalar>::Cache cache;
  auto step = [&] {
    norm.forward(x, y, &cache);
    norm.backward(cache, dy, dx);
    benchmark::DoNotOptimize(dx.data());
  };
  step();  // untimed warm-up, as the PyTorch peer's
  const std::clock_t cpu_start = std::clock();
  for (auto _ : state) step();
  report(state, "layer_norm", n, cpu_start);
}

template <typename Scalar>
void BM_GeluTanhForwardBackward(benchmark::State& state) {
  const Index n = 1024, c = 3072;
  elm::Rng rng(4);
  nn::Activation<Scalar> gelu(nn::ActivationKind::gelu_tanh);
  Matrix<Scalar> x(c, n), dy(c, n), y, dx;
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(dy, 0.0, 1.0);
  typename nn::Activation<Scalar>::Cache cache;
  auto step = [&] {
    gelu.forward(x, y, &cache);
    gelu.backward(cache, dy, dx);
    benchmark::DoNotOptimize(dx.data());
  };
  step();  // untimed warm-up, as the PyTorch peer's
  const std::clock_t cpu_start = std::clock();
  for (auto _ : state) step();
  report(state, "gelu_tanh", n, cpu_start);
}

// Conv2d 3x3, padding 1: forward and backward (the input gradient too, as PyTorch's input requires it).
template <typename Scalar>
void conv_forward_backward(benchmark::State& state, const std::string& name, Index batch, Index in, Index out,
                           Index size) {
  elm::Rng rng(5);
  nn::Conv2d<Scalar> conv(nn::Conv2dConfig{in, out, {3, 3}, {1, 1}, {1, 1}}, rng);
  const nn::ImageShape shape{batch, size, size};
  Matrix<Scalar> x(in, batch * size * size), dy(out, batch * size * size), y, dx;
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(dy, 0.0, 1.0);
  typename nn::Conv2d<Scalar>::Cache cache;
  auto step = [&] {
    conv.forward(x, shape, y, &cache);
    conv.backward(cache, dy, dx);
    benchmark::DoNotOptimize(dx.data());
  };
  step();  // untimed warm-up, as the PyTorch peer's
  const std::clock_t cpu_start = std::clock();
  for (auto _ : state) step();
  report(state, name, batch, cpu_start);
}

template <typename Scalar>
void BM_Conv2d32x32ForwardBackward(benchmark::State& state) {
  conv_forward_backward<Scalar>(state, "conv_32x32", 32, 64, 64, 32);
}
template <typename Scalar>
void BM_Conv2dDigits1ForwardBackward(benchmark::State& state) {
  conv_forward_backward<Scalar>(state, "conv_digits_1", 64, 1, 32, 8);
}
template <typename Scalar>
void BM_Conv2dDigits2ForwardBackward(benchmark::State& state) {
  conv_forward_backward<Scalar>(state, "conv_digits_2", 64, 32, 64, 4);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_LstmTrainStep, float)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_GruTrainStep, float)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_LinearForwardBackward, float)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_LinearNarrowForwardBackward, float)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_LinearRouting, float)
    ->ArgNames({"in", "out", "n"})
    ->Args({64, 64, 256})->Args({96, 96, 128})->Args({128, 128, 16})->Args({128, 128, 64})->Args({128, 128, 736})
    ->Args({128, 512, 736})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_LayerNormForwardBackward, float)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_GeluTanhForwardBackward, float)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Conv2d32x32ForwardBackward, float)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Conv2dDigits1ForwardBackward, float)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Conv2dDigits2ForwardBackward, float)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) { return elm_bench::main_with_peer(argc, argv, run_torch_peer); }
