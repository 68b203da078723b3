// SPDX-License-Identifier: MIT
// Single-thread encoding throughput of the GPT-2 BPE and BERT WordPiece tokenizers on English and Chinese text.
// tools/bench_tokenizers.py runs this binary and Hugging Face tokenizers in the same run and reports ratios.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "elm/text/bpe_tokenizer.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"

namespace {

// The repository root: $ELM_SOURCE_DIR, else three levels above this executable (build/bin/elm-bench-text).
std::string repo_root() {
  if (const char* env = std::getenv("ELM_SOURCE_DIR")) return env;
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string exe = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string(".");
  for (int i = 0; i < 3; ++i) exe = exe.substr(0, exe.find_last_of('/'));
  return exe;
}

std::string data(const std::string& rel) { return repo_root() + "/examples/data/" + rel; }

// Non-empty lines: the unit both libraries encode (one call per line).
std::vector<std::string> corpus_lines(const std::string& rel) {
  const std::string text(elm::io::MappedFile(data(rel), "bench_text").text());
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    if (eol > pos) lines.push_back(text.substr(pos, eol - pos));
    pos = eol + 1;
  }
  return lines;
}

const std::vector<std::string>& corpus(int which) {
  static const std::vector<std::string> austen = corpus_lines("austen/austen-emma.txt");
  static const std::vector<std::string> poetry = corpus_lines("chinese-poetry/tang-poems-5662.txt");
  return which == 0 ? austen : poetry;
}

std::size_t bytes_of(const std::vector<std::string>& lines) {
  std::size_t n = 0;
  for (const auto& l : lines) n += l.size();
  return n;
}

const elm::text::BpeTokenizer& gpt2() {
  static const elm::text::BpeTokenizer t =
      elm::text::BpeTokenizer::from_files(data("gpt2/vocab.json"), data("gpt2/merges.txt"));
  return t;
}

const elm::text::WordPieceTokenizer& bert() {
  static const elm::text::WordPieceTokenizer t = elm::text::WordPieceTokenizer::from_file(data("bert-base-uncased/vocab.txt"));
  return t;
}

void report(benchmark::State& state, const std::vector<std::string>& lines, std::size_t tokens) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes_of(lines)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * tokens));
  state.counters["tokens"] = static_cast<double>(tokens);
}

// GPT-2 BPE, ids only.
void BM_Gpt2Ids(benchmark::State& state) {
  const auto& lines = corpus(static_cast<int>(state.range(0)));
  std::size_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const auto& l : lines) {
      const auto ids = gpt2().encode(l);
      tokens += ids.size();
      benchmark::DoNotOptimize(ids.data());
    }
  }
  report(state, lines, tokens);
}

// GPT-2 BPE with token strings and offsets (what Hugging Face's Encoding holds).
void BM_Gpt2Full(benchmark::State& state) {
  const auto& lines = corpus(static_cast<int>(state.range(0)));
  std::size_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const auto& l : lines) {
      const auto e = gpt2().encode_full(l);
      tokens += e.size();
      benchmark::DoNotOptimize(e.ids.data());
    }
  }
  report(state, lines, tokens);
}

// BERT WordPiece, uncased, with [CLS]/[SEP], tokens, offsets and masks.
void BM_BertFull(benchmark::State& state) {
  const auto& lines = corpus(static_cast<int>(state.range(0)));
  std::size_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const auto& l : lines) {
      const auto e = bert().encode(l);
      tokens += e.size();
      benchmark::DoNotOptimize(e.ids.data());
    }
  }
  report(state, lines, tokens);
}

}  // namespace

// Argument 0: Austen's Emma (English); 1: 5,662 Tang poems (Chinese).
BENCHMARK(BM_Gpt2Ids)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gpt2Full)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BertFull)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
