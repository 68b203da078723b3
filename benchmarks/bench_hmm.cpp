// SPDX-License-Identifier: MIT
// HMM speed at the size: N = 10 states, V = 1,000 symbols, 1,000,000 observations in 100 sequences.
// Viterbi decoding, the forward log-likelihood, and 10 Baum-Welch iterations. Built with -DELM_OPENMP=ON,
// the many-sequence entry points share the sequences among OMP_NUM_THREADS threads; CPU time is the
// process's (all threads), so wall time is the measure to compare across thread counts.
//
// tools/bench_hmm.py writes the data (model.json, init.json, obs.txt) into a directory, times hmmlearn on it,
// runs this program with ELM_HMM_BENCH_DIR set to that directory and prints the ratios. Without the variable
// the program draws its own data of the same size from elm::Rng.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/classic/baum_welch.hpp"
#include "elm/classic/forward_backward.hpp"
#include "elm/classic/hmm.hpp"
#include "elm/classic/viterbi.hpp"
#include "elm/core/rng.hpp"

namespace {

using elm::Index;
using elm::classic::Hmm;
using elm::classic::Sequence;

constexpr Index n_states = 10, n_symbols = 1000, n_sequences = 100, length = 10000;

Hmm<double> random_model(elm::Rng& rng) {
  auto rows = [&](Index r, Index c) {
    elm::Matrix<double> m(r, c);
    rng.fill_uniform(m, 0.01, 1.0);
    for (Index i = 0; i < r; ++i) m.row(i) /= m.row(i).sum();
    return m;
  };
  const elm::Matrix<double> start = rows(1, n_states);
  return Hmm<double>(start.row(0).transpose(), rows(n_states, n_states), rows(n_states, n_symbols));
}

Hmm<double> load_model(const std::string& path) {
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  const auto start = j["startprob"].get<std::vector<double>>();
  const auto trans = j["transmat"].get<std::vector<std::vector<double>>>();
  const auto emit = j["emissionprob"].get<std::vector<std::vector<double>>>();
  elm::Vector<double> pi(elm::to_index(start.size()));
  elm::Matrix<double> a(elm::to_index(trans.size()), elm::to_index(trans.size()));
  elm::Matrix<double> b(elm::to_index(emit.size()), elm::to_index(emit[0].size()));
  for (std::size_t i = 0; i < start.size(); ++i) pi(elm::to_index(i)) = start[i];
  for (std::size_t i = 0; i < trans.size(); ++i)
    for (std::size_t k = 0; k < trans[i].size(); ++k) a(elm::to_index(i), elm::to_index(k)) = trans[i][k];
  for (std::size_t i = 0; i < emit.size(); ++i)
    for (std::size_t k = 0; k < emit[i].size(); ++k) b(elm::to_index(i), elm::to_index(k)) = emit[i][k];
  return Hmm<double>(pi, a, b);
}

struct Data {
  Hmm<double> model, init;
  std::vector<Sequence> sequences;
  Index observations = 0;
};

const Data& data() {
  static const Data d = [] {
    if (const char* dir = std::getenv("ELM_HMM_BENCH_DIR")) {
      Data out{load_model(std::string(dir) + "/model.json"), load_model(std::string(dir) + "/init.json"), {}, 0};
      std::ifstream in(std::string(dir) + "/obs.txt");
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream tokens(line);
        Sequence s;
        Index x = 0;
        while (tokens >> x) s.push_back(x);
        out.observations += elm::to_index(s.size());
        out.sequences.push_back(std::move(s));
      }
      return out;
    }
    elm::Rng rng(42);
    Hmm<double> model = random_model(rng);
    Hmm<double> init = random_model(rng);
    Data out{model, init, {}, 0};
    for (Index s = 0; s < n_sequences; ++s) out.sequences.push_back(model.sample(length, rng).symbols);
    out.observations = n_sequences * length;
    return out;
  }();
  return d;
}

void BM_HmmViterbi(benchmark::State& state) {
  const Data& d = data();
  for (auto _ : state)
    benchmark::DoNotOptimize(elm::classic::viterbi(d.model, d.sequences).back().log_prob);
  state.SetItemsProcessed(state.iterations() * d.observations);
}

void BM_HmmLogLikelihood(benchmark::State& state) {
  const Data& d = data();
  for (auto _ : state) benchmark::DoNotOptimize(elm::classic::log_likelihood(d.model, d.sequences));
  state.SetItemsProcessed(state.iterations() * d.observations);
}

void BM_HmmBaumWelch10(benchmark::State& state) {
  const Data& d = data();
  elm::classic::BaumWelchOptions options;
  options.n_iter = 10;
  options.tol = -std::numeric_limits<double>::infinity();
  const elm::classic::BaumWelch<double> trainer(options);
  for (auto _ : state) {
    Hmm<double> hmm = d.init;
    benchmark::DoNotOptimize(trainer.fit(hmm, d.sequences).history.back());
  }
  state.SetItemsProcessed(state.iterations() * d.observations * 10);
}

}  // namespace

BENCHMARK(BM_HmmViterbi)->Unit(benchmark::kMillisecond)->MinTime(1.0)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_HmmLogLikelihood)->Unit(benchmark::kMillisecond)->MinTime(1.0)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_HmmBaumWelch10)->Unit(benchmark::kMillisecond)->Iterations(2)->MeasureProcessCPUTime()->UseRealTime();

BENCHMARK_MAIN();
