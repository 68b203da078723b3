// SPDX-License-Identifier: MIT
// word2vec training speed: words per second per thread for skip-gram and CBOW with negative sampling, at 1 and 2
// threads (size 100, window 5, negative 5, sample 1e-3, min-count 5, 1 epoch). tools/word2vec_bench.py runs this
// and gensim on the same tokenised corpus in one run and reports the ratio.
// Corpus: the file named by ELM_WORD2VEC_CORPUS (one sentence per line), else the bundled Austen novels tokenised
// here as the script does (lower case, words of letters and apostrophes, sentences split at . ! ? ; :).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "elm/models/word2vec.hpp"

namespace {

// The repository root, from this file's path (benchmarks get no source-directory definition).
std::string source_dir() {
  const std::string file = __FILE__;
  const auto slash = file.rfind("/benchmarks/");
  return slash == std::string::npos ? std::string(".") : file.substr(0, slash);
}

std::string tokenise_austen() {
  const char* books[] = {"emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility"};
  std::string out, sentence, word;
  const auto flush_word = [&] {
    // Trailing apostrophes belong to no word (the script's regex [a-z]+(?:'[a-z]+)*).
    while (!word.empty() && word.back() == '\'') word.pop_back();
    if (!word.empty()) {
      if (!sentence.empty()) sentence += ' ';
      sentence += word;
    }
    word.clear();
  };
  for (const char* book : books) {
    std::ifstream in(source_dir() + "/examples/data/austen/austen-" + book + ".txt");
    std::stringstream buffer;
    buffer << in.rdbuf();
    for (char c : buffer.str()) {
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
      if (c >= 'a' && c <= 'z') {
        word += c;
      } else if (c == '\'' && !word.empty() && word.back() != '\'') {
        word += c;
      } else {
        flush_word();
        if (c == '.' || c == '!' || c == '?' || c == ';' || c == ':') {
          if (!sentence.empty()) out += sentence + '\n';
          sentence.clear();
        }
      }
    }
    flush_word();
  }
  if (!sentence.empty()) out += sentence + '\n';
  return out;
}

const elm::models::Word2VecCorpus& corpus() {
  static const elm::models::Word2VecCorpus c = [] {
    std::string text;
    if (const char* path = std::getenv("ELM_WORD2VEC_CORPUS")) {
      std::ifstream in(path, std::ios::binary);
      std::stringstream buffer;
      buffer << in.rdbuf();
      text = buffer.str();
    } else {
      text = tokenise_austen();
    }
    std::istringstream in(text);
    return elm::models::build_word2vec_corpus(in, 5);
  }();
  return c;
}

void BM_word2vec_train(benchmark::State& state) {
  const auto& c = corpus();
  elm::models::Word2VecConfig cfg;
  cfg.cbow = state.range(0) != 0;
  cfg.threads = state.range(1);
  cfg.iter = 1;
  for (auto _ : state) {
    elm::Rng rng(1);
    auto model = elm::models::Word2Vec::train(c, cfg, rng);
    benchmark::DoNotOptimize(model.input_vectors().data());
  }
  // Words as both tools count them for speed: every token of the file, per epoch.
  state.SetItemsProcessed(state.iterations() * c.raw_tokens * cfg.iter);
  state.counters["words_per_sec_per_thread"] = benchmark::Counter(
      double(state.iterations() * c.raw_tokens * cfg.iter) / double(cfg.threads), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_word2vec_train)
    ->ArgNames({"cbow", "threads"})
    ->Args({0, 1})
    ->Args({0, 2})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Iterations(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
