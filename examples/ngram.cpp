// SPDX-License-Identifier: MIT
// elm-ngram: estimate n-gram models (lmplz-compatible modified Kneser-Ney and others), score text as KenLM's
// query does, generate sentences, and list the most frequent n-grams.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/austen.hpp"
#include "elm/classic/bounded_ngram_counts.hpp"
#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_estimate.hpp"
#include "elm/classic/ngram_model.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/dist/communicator.hpp"
#include "elm/dist/sharded_ngram_counts.hpp"
#include "elm/io/arpa.hpp"
#include "elm/io/line_shard.hpp"
#include "elm/io/ngram_binary.hpp"
#ifdef ELM_MPI
#include "elm/dist/mpi_communicator.hpp"
#endif

namespace {

using elm::classic::NgramModel;

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    ELM_EXPECT(file.good(), elm::IoError, "elm-ngram: cannot open ", path, " for reading");
    in = &file;
  }
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(*in, line)) lines.push_back(line);
  ELM_EXPECT(!in->bad(), elm::IoError, "elm-ngram: error while reading ", path);
  return lines;
}

// Progress on stderr, one line per stage, rewritten in place.
class Progress {
 public:
  explicit Progress(bool quiet) : quiet_(quiet) {}
  void operator()(std::string_view stage, double fraction) {
    if (quiet_) return;
    const int percent = static_cast<int>(fraction * 100.0);
    if (stage == stage_ && percent == percent_) return;
    if (stage != stage_ && !stage_.empty()) std::fputc('\n', stderr);
    stage_ = std::string(stage);
    percent_ = percent;
    fmt::print(stderr, "\r{:<18} {:3d}%", stage_, percent);
    std::fflush(stderr);
  }
  void done() {
    if (!quiet_ && !stage_.empty()) std::fputc('\n', stderr);
    stage_.clear();
  }

 private:
  bool quiet_;
  std::string stage_;
  int percent_ = -1;
};

// The process's peak resident set so far in MB (VmHWM of /proc/self/status; 0 where there is none).
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

// An ARPA or binary model, told apart by the binary magic.
NgramModel load_model(const std::string& path) {
  std::ifstream probe(path, std::ios::binary);
  ELM_EXPECT(probe.good(), elm::IoError, "elm-ngram: cannot open model ", path);
  char magic[sizeof elm::io::ngram_binary_magic] = {};
  probe.read(magic, sizeof magic);
  probe.close();
  if (std::equal(magic, magic + sizeof magic, elm::io::ngram_binary_magic)) return elm::io::load_ngram_binary(path);
  return NgramModel(elm::io::read_arpa(path));
}

struct EstimateArgs {
  int order = 3;
  std::string text, arpa, binary, smoothing = "kneser-ney", memory, temp_dir;
  std::vector<double> fallback;
  std::vector<std::int64_t> prune;
  bool discount_fallback = false, chars = false, quiet = false;
  double add_k = 1.0, alpha = 0.4;
};

// Under mpirun (a build with ELM_MPI), each process counts its share of the lines, the counts are merged on rank 0
// (elm/dist/sharded_ngram_counts.hpp), and rank 0 alone estimates and writes the files.
int run_estimate(const EstimateArgs& a, elm::dist::Communicator& comm) {
  ELM_EXPECT(!a.arpa.empty() || !a.binary.empty(), elm::InvalidArgument,
             "elm-ngram estimate: give --arpa OUT.arpa and/or --binary OUT.bin");
  elm::classic::NgramEstimateOptions opt;
  opt.order = a.order;
  opt.smoothing = elm::classic::parse_smoothing(a.smoothing);
  opt.chars = a.chars;
  opt.add_k = a.add_k;
  opt.stupid_backoff_alpha = a.alpha;
  opt.kneser_ney.discount_fallback = a.discount_fallback || !a.fallback.empty();
  if (!a.fallback.empty()) opt.kneser_ney.fallback_discounts = a.fallback;
  opt.kneser_ney.prune = a.prune;
  const bool root = comm.rank() == 0;
  Progress progress(a.quiet || !root);
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<elm::classic::NgramCounts> sharded;
  if (!a.memory.empty()) {
    // Bounded counting: the text streamed, counted in parts within the budget, the parts merged from disk.
    ELM_EXPECT(comm.size() == 1, elm::InvalidArgument, "elm-ngram estimate: --memory with ", comm.size(),
               " processes, expected one process (sharded counting holds each share in memory)");
    elm::classic::BoundedCountOptions bounded;
    bounded.order = opt.order;
    bounded.chars = opt.chars;
    bounded.memory = elm::classic::parse_memory_size(a.memory);
    bounded.temp_dir = a.temp_dir;
    if (bounded.temp_dir.empty())  // next to the output: the runs are about as large as the model
      bounded.temp_dir = std::filesystem::absolute(a.arpa.empty() ? a.binary : a.arpa).parent_path().string();
    std::ifstream file;
    if (a.text != "-") {
      file.open(a.text, std::ios::binary);
      ELM_EXPECT(file.good(), elm::IoError, "elm-ngram: cannot open ", a.text, " for reading");
    }
    progress("counting", 0.0);
    sharded.emplace(elm::classic::count_ngrams_bounded(a.text == "-" ? std::cin : file, bounded));
    progress("counting", 1.0);
    progress.done();
  } else if (comm.size() > 1) {
    // Each process reads its byte range of the file (the lines that start in it); the line counts of the ranks
    // before it number its lines in error messages.
    std::vector<std::string> lines;
    elm::dist::run_collectively(comm, [&] {
      ELM_EXPECT(a.text != "-", elm::InvalidArgument,
                 "elm-ngram estimate: --text - (stdin) with several processes, expected a file every process reads");
      lines = elm::io::read_line_shard(a.text, comm.rank(), comm.size());
    });
    std::vector<std::int64_t> shard_sizes(static_cast<std::size_t>(comm.size()), 0);
    shard_sizes[static_cast<std::size_t>(comm.rank())] = static_cast<std::int64_t>(lines.size());
    comm.allreduce_sum(shard_sizes.data(), shard_sizes.size());
    const std::int64_t lines_before =
        std::accumulate(shard_sizes.begin(), shard_sizes.begin() + comm.rank(), std::int64_t(0));
    if (root && !a.quiet) fmt::print(stderr, "counting on {} processes\n", comm.size());
    sharded = elm::dist::count_ngrams_sharded(comm, lines, lines_before, opt.order, opt.chars);
    if (!root) return 0;
  } else {
    sharded.emplace(opt.order);
    sharded->add_lines(read_lines(a.text), opt.chars, std::ref(progress));
    progress.done();
  }
  const elm::classic::NgramCounts& counts = *sharded;
  if (!a.quiet)
    fmt::print(stderr, "Unigram tokens {} types {} sentences {}, read and counted in {:.3f} s (peak RSS {:.0f} MB)\n",
               counts.tokens(), counts.vocabulary().size(), counts.sentences(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), peak_rss_mb());
  elm::classic::NgramTables tables;
  if (opt.smoothing == elm::classic::Smoothing::kneser_ney) {
    std::vector<elm::classic::KneserNeyDiscount> discounts;
    tables = elm::classic::estimate_kneser_ney(counts, opt.kneser_ney, &discounts, std::ref(progress));
    progress.done();
    if (!a.quiet)
      for (const auto& d : discounts)
        fmt::print(stderr, "{} {} D1={:g} D2={:g} D3+={:g}{}\n", d.n, tables.orders[std::size_t(d.n - 1)].size(),
                   d.d[1], d.d[2], d.d[3], d.fallback ? " (fallback)" : "");
  } else {
    tables = elm::classic::estimate_ngram_tables(counts, opt);
  }
  if (!a.arpa.empty()) elm::io::write_arpa(tables, a.arpa);
  if (!a.binary.empty()) elm::io::save_ngram_binary(NgramModel(tables), a.binary);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.quiet)
    fmt::print(stderr, "{} n-grams in {:.3f} s (peak RSS {:.0f} MB)\n", tables.total_size(), seconds, peak_rss_mb());
  return 0;
}

struct ScoreArgs {
  std::string model, text = "-", verbose = "word";
  bool json = false, chars = false;
};

void print_summary(const elm::classic::NgramPerplexity& p, bool json) {
  if (json) {
    fmt::print("{{\"perplexity\": {}, \"perplexity_excl_oov\": {}, \"oov\": {}, \"tokens\": {}}}\n", p.perplexity(),
               p.perplexity_excl_oov(), p.oov, p.tokens);
  } else {
    fmt::print("Perplexity including OOVs:\t{}\nPerplexity excluding OOVs:\t{}\nOOVs:\t{}\nTokens:\t{}\n",
               p.perplexity(), p.perplexity_excl_oov(), p.oov, p.tokens);
  }
}

int run_perplexity(const ScoreArgs& a) {
  const NgramModel model = load_model(a.model);
  print_summary(model.perplexity(read_lines(a.text), a.chars), a.json);
  return 0;
}

// KenLM's `query -v word|sentence|summary` output: per token "word=id ngram_length log10p" separated by tabs,
// then "Total: <sum> OOV: <count>" per sentence, then the summary.
int run_query(const ScoreArgs& a) {
  ELM_EXPECT(a.verbose == "word" || a.verbose == "sentence" || a.verbose == "summary", elm::InvalidArgument,
             "elm-ngram query: --verbose ", a.verbose, ", expected word, sentence or summary");
  const NgramModel model = load_model(a.model);
  elm::classic::NgramPerplexity totals;
  std::string out;
  for (const std::string& line : read_lines(a.text)) {
    std::vector<std::string> tokens;
    if (a.chars) {
      tokens = elm::classic::char_tokens(line);
    } else {
      std::vector<std::string_view> views;
      elm::classic::split_tokens(line, views);
      tokens.assign(views.begin(), views.end());
    }
    tokens.emplace_back(elm::classic::eos_symbol);
    elm::classic::NgramState s = model.begin_sentence_state();
    double sentence = 0.0;
    std::int64_t oov = 0;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const elm::classic::WordId w = i + 1 == tokens.size() ? model.eos_id() : model.index(tokens[i]);
      const auto r = model.score(s, w, s);
      sentence += r.log10_prob;
      ++totals.tokens;
      if (r.oov) {
        ++oov;
        ++totals.oov;
        totals.log10_prob_oov += r.log10_prob;
      }
      if (a.verbose == "word") out += fmt::format("{}={} {} {}\t", tokens[i], r.oov ? 0u : w, r.ngram_length,
                                                 static_cast<float>(r.log10_prob));
    }
    totals.log10_prob += sentence;
    ++totals.sentences;
    if (a.verbose != "summary") out += fmt::format("Total: {} OOV: {}\n", static_cast<float>(sentence), oov);
    if (out.size() > (1u << 16)) {
      fmt::print("{}", out);
      out.clear();
    }
  }
  fmt::print("{}", out);
  print_summary(totals, false);
  return 0;
}

struct GenerateArgs {
  std::string model;
  std::uint64_t seed = 1;
  int count = 1, max_words = 50;
  bool chars = false;
};

int run_generate(const GenerateArgs& a) {
  const NgramModel model = load_model(a.model);
  elm::Rng rng(a.seed);
  for (int i = 0; i < a.count; ++i)
    fmt::print("{}\n", model.sample_text(rng, static_cast<std::size_t>(std::max(1, a.max_words)), a.chars));
  return 0;
}

struct CountArgs {
  std::string text;
  int order = 2, top = 20;
  bool chars = false;
};

int run_count(const CountArgs& a) {
  elm::classic::NgramCounts counts(a.order);
  counts.add_lines(read_lines(a.text), a.chars);
  const auto& store = counts.store(a.order);
  const auto& c = counts.counts(a.order);
  std::vector<std::size_t> idx(store.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  const std::size_t k = std::min<std::size_t>(idx.size(), static_cast<std::size_t>(std::max(0, a.top)));
  // Ties broken by first appearance, so the listing is deterministic.
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                    [&](std::size_t x, std::size_t y) { return c[x] != c[y] ? c[x] > c[y] : x < y; });
  fmt::print("# {} distinct {}-grams, {} sentences, {} tokens\n", store.size(), a.order, counts.sentences(),
             counts.tokens());
  for (std::size_t r = 0; r < k; ++r) {
    std::string gram;
    for (int j = 0; j < a.order; ++j) {
      if (j) gram += ' ';
      gram += counts.vocabulary().word(store.words(idx[r])[j]);
    }
    fmt::print("{}\t{}\n", c[idx[r]], gram);
  }
  const auto coc = counts.count_of_counts(a.order, 4);
  fmt::print("# count-of-counts: n1={} n2={} n3={} n4={}\n", coc[1], coc[2], coc[3], coc[4]);
  return 0;
}

struct AustenArgs {
  std::string dir = "examples/data/austen";  // relative to the repository root
  int order = 5;
  std::uint64_t seed = 1;
  bool quiet = false;
};

int run_austen(const AustenArgs& a) {
  const auto split = elm::examples::load_austen(a.dir);
  elm::classic::NgramEstimateOptions opt;
  opt.order = a.order;
  Progress progress(a.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  const NgramModel model = elm::classic::estimate_ngram_model(split.train, opt, std::ref(progress));
  progress.done();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto p = model.perplexity(split.test);
  fmt::print("order-{} modified Kneser-Ney on {} training sentences: {} n-grams in {:.2f} s\n", a.order,
             split.train.size(), model.total_ngrams(), seconds);
  fmt::print("held-out perplexity {:.3f} ({:.3f} without the {} OOVs) over {} tokens\n", p.perplexity(),
             p.perplexity_excl_oov(), p.oov, p.tokens);
  elm::Rng rng(a.seed);
  fmt::print("sample: {}\n", model.sample_text(rng, 40));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"elm-ngram: n-gram language models (interpolated modified Kneser-Ney as KenLM's lmplz, ARPA files, "
               "KenLM query's scoring conventions)"};
  app.require_subcommand(1);

  EstimateArgs est;
  auto* e = app.add_subcommand("estimate", "estimate a model from text (one sentence per line) and write ARPA");
  e->add_option("--order,-o", est.order, "n-gram order")->required();
  e->add_option("--text", est.text, "training text, one sentence per line ('-' for stdin)")->required();
  e->add_option("--arpa", est.arpa, "output ARPA file");
  e->add_option("--binary", est.binary, "output binary model (fast to load)");
  e->add_option("--smoothing", est.smoothing, "kneser-ney (default, as lmplz), mle, add-k or stupid-backoff");
  e->add_flag("--discount-fallback", est.discount_fallback,
              "use fixed discounts 0.5 1 1.5 for orders whose Kneser-Ney discounts cannot be computed");
  e->add_option("--fallback-discounts", est.fallback, "D1 [D2 [D3+]] for --discount-fallback")->expected(1, 3);
  e->add_option("--prune", est.prune,
                "Kneser-Ney pruning thresholds per order as lmplz --prune, e.g. 0 1 1 (drops counts <= t)");
  e->add_flag("--chars", est.chars, "character n-grams (code points) instead of words");
  e->add_option("--add-k", est.add_k, "k of add-k smoothing");
  e->add_option("--alpha", est.alpha, "back-off factor of stupid back-off");
  e->add_option("--memory,-S", est.memory,
                "count within this many bytes of tables (suffix K, M or G, e.g. 64M; at least 256K), spilling sorted "
                "runs to --temp-dir and merging them (as lmplz -S); the same ARPA as without");
  e->add_option("--temp-dir,-T", est.temp_dir, "folder of the runs of --memory (default: the output's folder)");
  e->add_flag("--quiet,-q", est.quiet, "no progress on stderr");

  ScoreArgs ppl;
  auto* p = app.add_subcommand("perplexity", "perplexity of text, including and excluding OOVs");
  p->add_option("--arpa,--model", ppl.model, "ARPA or binary model")->required();
  p->add_option("--text", ppl.text, "text, one sentence per line ('-' for stdin)");
  p->add_flag("--json", ppl.json, "print one JSON object: perplexity, perplexity_excl_oov, oov, tokens");
  p->add_flag("--chars", ppl.chars, "character model");

  ScoreArgs q;
  auto* qc = app.add_subcommand("query", "score text token by token, in the format of KenLM's query");
  qc->add_option("--arpa,--model", q.model, "ARPA or binary model")->required();
  qc->add_option("--text", q.text, "text, one sentence per line ('-' for stdin, the default)");
  qc->add_option("--verbose,-v", q.verbose, "word, sentence or summary (as query -v)");
  qc->add_flag("--chars", q.chars, "character model");

  GenerateArgs gen;
  auto* g = app.add_subcommand("generate", "sample sentences from a model");
  g->add_option("--arpa,--model", gen.model, "ARPA or binary model")->required();
  g->add_option("--seed", gen.seed, "random seed");
  g->add_option("--count,-n", gen.count, "number of sentences");
  g->add_option("--max-words", gen.max_words, "stop a sentence after this many tokens");
  g->add_flag("--chars", gen.chars, "character model: join tokens without spaces");

  CountArgs cnt;
  auto* c = app.add_subcommand("count", "the most frequent n-grams of one order");
  c->add_option("--text", cnt.text, "text, one sentence per line ('-' for stdin)")->required();
  c->add_option("--order,-o", cnt.order, "n-gram order");
  c->add_option("--top", cnt.top, "how many to list");
  c->add_flag("--chars", cnt.chars, "character n-grams");

  AustenArgs aus;
  auto* au = app.add_subcommand("austen", "estimate on the bundled Austen corpus' training split, report held-out "
                                          "perplexity and a sample");
  au->add_option("--dir", aus.dir, "folder of the Austen *.txt files");
  au->add_option("--order,-o", aus.order, "n-gram order");
  au->add_option("--seed", aus.seed, "random seed of the sample");
  au->add_flag("--quiet,-q", aus.quiet, "no progress on stderr");

  CLI11_PARSE(app, argc, argv);
#ifdef ELM_MPI
  std::optional<elm::dist::MpiEnvironment> environment;
  std::optional<elm::dist::MpiCommunicator> mpi;
#endif
  try {
    if (*e) {
#ifdef ELM_MPI
      environment.emplace(nullptr, nullptr);
      mpi.emplace();
      try {
        return run_estimate(est, *mpi);
      } catch (const elm::dist::PeerError&) {
        return 1;  // another process failed and says why; all know, so all finalise normally
      } catch (const elm::dist::CommunicationError& err) {
        // The processes may be out of step (a peer gone, a collective half done): end them all rather than wait.
        fmt::print(stderr, "{}\n", err.what());
        if (mpi->size() > 1) mpi->abort(1);
        return 1;
      }
#else
      elm::dist::LocalCommunicator local;
      return run_estimate(est, local);
#endif
    }
    if (*p) return run_perplexity(ppl);
    if (*qc) return run_query(q);
    if (*g) return run_generate(gen);
    if (*c) return run_count(cnt);
    if (*au) return run_austen(aus);
  } catch (const std::exception& err) {  // elm::Error or any other: a message and status 1
    fmt::print(stderr, "{}\n", err.what());
    return 1;
  }
  return 0;
}
