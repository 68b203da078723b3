// SPDX-License-Identifier: MIT
// N-gram benchmarks: estimation (counting + modified Kneser-Ney), query throughput from ARPA- and binary-loaded
// models, and the load time of each format, on the KJV split of tests/data/ngram (run from the repository root,
// or set ELM_SOURCE_DIR). tools/bench_ngram_peers.py runs this next to Python kenlm and NLTK.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_model.hpp"
#include "elm/io/arpa.hpp"
#include "elm/io/ngram_binary.hpp"

namespace {

std::string data_dir() {
  const char* root = std::getenv("ELM_SOURCE_DIR");
  return std::string(root ? root : ".") + "/tests/data/ngram/";
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot open %s (run from the repository root or set ELM_SOURCE_DIR)\n", path.c_str());
    std::exit(1);
  }
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

const std::vector<std::string>& train() {
  static const auto lines = read_lines(data_dir() + "train.txt");
  return lines;
}
const std::vector<std::string>& test() {
  static const auto lines = read_lines(data_dir() + "test.txt");
  return lines;
}

// ARPA and binary files of the order-n estimate, written once into the temporary folder.
std::string model_file(int order, bool binary) {
  static std::map<std::pair<int, bool>, std::string> files;
  const auto key = std::make_pair(order, binary);
  if (!files.count(key)) {
    const char* tmp = std::getenv("TMPDIR");
    const std::string base = std::string(tmp ? tmp : "/tmp") + "/elm-bench-ngram.o" + std::to_string(order);
    elm::classic::NgramCounts counts(order);
    counts.add_lines(train());
    const auto tables = elm::classic::estimate_kneser_ney(counts);
    elm::io::write_arpa(tables, base + ".arpa");
    elm::io::save_ngram_binary(elm::classic::NgramModel(tables), base + ".bin");
    files[{order, false}] = base + ".arpa";
    files[{order, true}] = base + ".bin";
  }
  return files[key];
}

void BM_EstimateKneserNey(benchmark::State& state) {
  const int order = static_cast<int>(state.range(0));
  std::int64_t tokens = 0;
  std::size_t ngrams = 0;
  for (auto _ : state) {
    elm::classic::NgramCounts counts(order);
    counts.add_lines(train());
    auto tables = elm::classic::estimate_kneser_ney(counts);
    benchmark::DoNotOptimize(tables.orders.data());
    tokens += counts.tokens() + counts.sentences();
    ngrams = tables.total_size();
  }
  state.SetItemsProcessed(tokens);
  state.counters["ngrams"] = static_cast<double>(ngrams);
}
BENCHMARK(BM_EstimateKneserNey)->Arg(3)->Arg(5)->Unit(benchmark::kMillisecond);

// Counting alone (what NLTK's fit does: its probabilities are computed lazily at query time).
void BM_Count(benchmark::State& state) {
  const int order = static_cast<int>(state.range(0));
  std::int64_t tokens = 0;
  for (auto _ : state) {
    elm::classic::NgramCounts counts(order);
    counts.add_lines(train());
    benchmark::DoNotOptimize(counts.size(order));
    tokens += counts.tokens() + counts.sentences();
  }
  state.SetItemsProcessed(tokens);
}
BENCHMARK(BM_Count)->Arg(3)->Arg(5)->Unit(benchmark::kMillisecond);

void BM_LoadArpa(benchmark::State& state) {
  const std::string path = model_file(static_cast<int>(state.range(0)), false);
  for (auto _ : state) {
    elm::classic::NgramModel m(elm::io::read_arpa(path));
    benchmark::DoNotOptimize(m.total_ngrams());
  }
}
BENCHMARK(BM_LoadArpa)->Arg(3)->Arg(5)->Unit(benchmark::kMillisecond);

void BM_LoadBinary(benchmark::State& state) {
  const std::string path = model_file(static_cast<int>(state.range(0)), true);
  for (auto _ : state) {
    auto m = elm::io::load_ngram_binary(path);
    benchmark::DoNotOptimize(m.total_ngrams());
  }
}
BENCHMARK(BM_LoadBinary)->Arg(3)->Arg(5)->Unit(benchmark::kMillisecond);

// Scores test.txt token by token with the State API (what KenLM's model.score does per sentence): one item is
// one scored token, i.e. one p(w | state) lookup of up to `order` hash probes.
void query(benchmark::State& state, bool binary) {
  const int order = static_cast<int>(state.range(0));
  const elm::classic::NgramModel m = binary ? elm::io::load_ngram_binary(model_file(order, true))
                                            : elm::classic::NgramModel(elm::io::read_arpa(model_file(order, false)));
  std::vector<std::vector<elm::classic::WordId>> sentences;
  std::int64_t per_pass = 0;
  for (const auto& line : test()) {
    std::vector<std::string_view> tokens;
    elm::classic::split_tokens(line, tokens);
    std::vector<elm::classic::WordId> ids;
    for (auto t : tokens) ids.push_back(m.index(t));
    ids.push_back(m.eos_id());
    per_pass += static_cast<std::int64_t>(ids.size());
    sentences.push_back(std::move(ids));
  }
  std::int64_t tokens = 0;
  for (auto _ : state) {
    double total = 0.0;
    for (const auto& ids : sentences) {
      elm::classic::NgramState s = m.begin_sentence_state();
      for (auto w : ids) total += m.score(s, w, s).log10_prob;
    }
    benchmark::DoNotOptimize(total);
    tokens += per_pass;
  }
  state.SetItemsProcessed(tokens);
  state.counters["bytes_per_ngram"] = m.bytes_per_ngram();
}
void BM_QueryArpaLoaded(benchmark::State& state) { query(state, false); }
void BM_QueryBinaryLoaded(benchmark::State& state) { query(state, true); }
BENCHMARK(BM_QueryArpaLoaded)->Arg(3)->Arg(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QueryBinaryLoaded)->Arg(3)->Arg(5)->Unit(benchmark::kMillisecond);

// Whole sentences from text, as kenlm's model.score(sentence) works: split, vocabulary lookup, then scoring.
void BM_QuerySentences(benchmark::State& state) {
  const elm::classic::NgramModel m = elm::io::load_ngram_binary(model_file(static_cast<int>(state.range(0)), true));
  std::int64_t tokens = 0;
  for (auto _ : state) {
    elm::classic::NgramPerplexity totals;
    for (const auto& line : test()) m.accumulate(line, totals);
    benchmark::DoNotOptimize(totals.log10_prob);
    tokens += totals.tokens;
  }
  state.SetItemsProcessed(tokens);
}
BENCHMARK(BM_QuerySentences)->Arg(3)->Arg(5)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
