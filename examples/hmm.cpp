// SPDX-License-Identifier: MIT
// elm-hmm: decode and fit categorical HMMs given as hmmlearn-style JSON, and train or run a Brown POS tagger.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/brown_files.hpp"
#include "elm/io/hmm_json.hpp"
#include "elm/io/pos_tagger.hpp"
#include "elm/classic/baum_welch.hpp"
#include "elm/classic/forward_backward.hpp"
#include "elm/classic/hmm.hpp"
#include "elm/classic/pos_tagger.hpp"
#include "elm/classic/viterbi.hpp"
#include "elm/core/error.hpp"

namespace {

using elm::Index;
using elm::classic::Hmm;
using elm::classic::Sequence;
using Json = nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ELM_EXPECT(in.good(), elm::IoError, "elm-hmm: cannot open \"", path, "\" for reading");
  std::ostringstream text;
  text << in.rdbuf();
  ELM_EXPECT(!in.bad(), elm::IoError, "elm-hmm: error while reading \"", path, "\"");
  return text.str();
}

// One sequence per line of whitespace-separated non-negative symbol ids.
std::vector<Sequence> load_sequences(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<Sequence> out;
  std::istringstream lines(text);
  std::string line;
  std::size_t number = 0;
  while (std::getline(lines, line)) {
    ++number;
    std::istringstream tokens(line);
    std::string token;
    Sequence seq;
    while (tokens >> token) {
      char* end = nullptr;
      errno = 0;
      const long long id = std::strtoll(token.c_str(), &end, 10);
      ELM_EXPECT(errno == 0 && end == token.c_str() + token.size() && id >= 0, elm::FormatError, "elm-hmm: ", path,
                 " line ", number, ": \"", token, "\" is not a symbol id, expected an integer >= 0");
      seq.push_back(static_cast<Index>(id));
    }
    ELM_EXPECT(!seq.empty(), elm::InvalidArgument, "elm-hmm: ", path, " line ", number,
               " is empty, expected at least one symbol id");
    out.push_back(std::move(seq));
  }
  ELM_EXPECT(!out.empty(), elm::InvalidArgument, "elm-hmm: ", path, " holds no sequence");
  return out;
}

Json tables_json(const Hmm<double>& hmm) {
  Json j;
  j["startprob"] = std::vector<double>(hmm.startprob().data(), hmm.startprob().data() + hmm.n_states());
  Json trans = Json::array(), emit = Json::array();
  for (Index i = 0; i < hmm.n_states(); ++i) {
    std::vector<double> row(static_cast<std::size_t>(hmm.n_states())), erow(static_cast<std::size_t>(hmm.n_symbols()));
    for (Index k = 0; k < hmm.n_states(); ++k) row[static_cast<std::size_t>(k)] = hmm.transmat()(i, k);
    for (Index k = 0; k < hmm.n_symbols(); ++k) erow[static_cast<std::size_t>(k)] = hmm.emissionprob()(i, k);
    trans.push_back(row);
    emit.push_back(erow);
  }
  j["transmat"] = trans;
  j["emissionprob"] = emit;
  return j;
}

// A non-finite number as JSON null (JSON has no -inf): an impossible sequence.
Json number_json(double x) { return std::isfinite(x) ? Json(x) : Json(nullptr); }

int run_decode(const std::string& model_path, const std::string& obs_path, bool json) {
  const Hmm<double> hmm = elm::io::load_hmm_json(model_path);
  const auto sequences = load_sequences(obs_path);
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    const double ll = elm::classic::log_likelihood(hmm, sequences[s]);
    const auto best = elm::classic::viterbi(hmm, sequences[s]);
    if (json) {
      Json j;
      j["log_likelihood"] = number_json(ll);
      j["viterbi_log_prob"] = number_json(best.log_prob);
      j["path"] = best.path;
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("sequence {}: T = {}, log-likelihood {:.10g}, Viterbi log-probability {:.10g}\n  path: {}\n", s,
                 sequences[s].size(), ll, best.log_prob, fmt::join(best.path, " "));
    }
  }
  return 0;
}

int run_fit(const std::string& model_path, const std::string& obs_path, Index iterations, double tol, bool json) {
  Hmm<double> hmm = elm::io::load_hmm_json(model_path);
  const auto sequences = load_sequences(obs_path);
  elm::classic::BaumWelchOptions options;
  options.n_iter = iterations;
  options.tol = tol;
  const auto monitor = elm::classic::BaumWelch<double>(options).fit(hmm, sequences);
  if (json) {
    Json j = tables_json(hmm);
    j["history"] = monitor.history;
    j["iterations"] = monitor.iterations;
    j["converged"] = monitor.converged;
    fmt::print("{}\n", j.dump());
    return 0;
  }
  fmt::print("Baum-Welch on {} sequences: {} iterations{}\n", sequences.size(), monitor.iterations,
             monitor.converged ? " (converged: gain below tol)" : "");
  for (std::size_t k = 0; k < monitor.history.size(); ++k)
    fmt::print("  iteration {:3d}: log-likelihood {:.10g}\n", k + 1, monitor.history[k]);
  fmt::print("{}\n", tables_json(hmm).dump(2));
  return 0;
}

struct BrownSplit {
  std::vector<elm::classic::TaggedSentence> train, test;
  std::size_t train_files = 0, test_files = 0;
};

BrownSplit load_brown(const std::string& dir, elm::classic::TagSet tagset, std::size_t max_files) {
  const auto files = elm::examples::read_brown_files(dir, "elm-hmm");
  BrownSplit split;
  for (std::size_t i = 0; i < files.size() && i < max_files; ++i) {
    auto sentences = elm::classic::parse_brown(files[i].second, tagset, files[i].first);
    auto& target = elm::classic::brown_held_out(static_cast<Index>(i)) ? split.test : split.train;
    (elm::classic::brown_held_out(static_cast<Index>(i)) ? split.test_files : split.train_files) += 1;
    target.insert(target.end(), std::make_move_iterator(sentences.begin()), std::make_move_iterator(sentences.end()));
  }
  return split;
}

int run_train_tagger(const std::string& corpus, const std::string& tagset_name, int order,
                     const std::string& smoothing, double k, std::size_t max_files, const std::string& out_path) {
  using namespace elm::classic;
  ELM_EXPECT(tagset_name == "full" || tagset_name == "base", elm::InvalidArgument, "elm-hmm: --tagset \"",
             tagset_name, "\", expected full or base");
  ELM_EXPECT(smoothing == "interpolation" || smoothing == "add_k", elm::InvalidArgument, "elm-hmm: --smoothing \"",
             smoothing, "\", expected interpolation or add_k");
  const TagSet tagset = tagset_name == "base" ? TagSet::base : TagSet::full;
  const auto start = std::chrono::steady_clock::now();
  const BrownSplit split = load_brown(corpus, tagset, max_files);
  ELM_EXPECT(!split.train.empty(), elm::InvalidArgument, "elm-hmm: no training sentences in \"", corpus, "\"");
  PosTaggerOptions options;
  options.order = order;
  options.smoothing = smoothing == "add_k" ? TransitionSmoothing::add_k : TransitionSmoothing::interpolation;
  options.transition_k = k;
  const PosTagger tagger = PosTagger::train(split.train, options);
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::size_t train_tokens = 0;
  for (const auto& s : split.train) train_tokens += s.words.size();
  fmt::print("trained an order-{} HMM tagger ({} tags, {}) on {} files, {} sentences, {} tokens in {:.1f} s\n", order,
             tagger.n_tags(), tagset_name, split.train_files, split.train.size(), train_tokens, train_seconds);
  if (smoothing == "interpolation")
    fmt::print("deleted interpolation weights: {:.4f}\n", fmt::join(tagger.lambdas(), " "));
  if (!split.test.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto acc = evaluate_tagger(tagger, split.test);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto base = evaluate_tagger(MostFrequentTagTagger::train(split.train), split.test);
    fmt::print("held out: {} files, {} tokens, {} unknown ({:.2f}%), tagged at {:.0f} tokens/s\n", split.test_files,
               acc.tokens, acc.unknown, 100.0 * double(acc.unknown) / double(acc.tokens), double(acc.tokens) / seconds);
    fmt::print("  HMM tagger:        {:.2f}% all tokens, {:.2f}% unknown words\n", 100 * acc.overall(),
               100 * acc.on_unknown());
    fmt::print("  most frequent tag: {:.2f}% all tokens, {:.2f}% unknown words\n", 100 * base.overall(),
               100 * base.on_unknown());
  }
  if (!out_path.empty()) {
    elm::io::save_pos_tagger(tagger, out_path);
    fmt::print("wrote {}\n", out_path);
  }
  return 0;
}

int run_tag(const std::string& model_path, const std::string& input) {
  const auto tagger = elm::io::load_pos_tagger(model_path);
  std::string text;
  if (input.empty() || input == "-") {
    std::ostringstream all;
    all << std::cin.rdbuf();
    text = all.str();
  } else {
    text = read_file(input);
  }
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream tokens(line);
    std::vector<std::string> words;
    std::string w;
    while (tokens >> w) words.push_back(w);
    const auto tags = tagger.tag(words);
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i) out += (i ? " " : "") + words[i] + "/" + tags[i];
    fmt::print("{}\n", out);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"elm-hmm: hidden Markov models with categorical emissions (hmmlearn's CategoricalHMM tables)"};
  app.require_subcommand(1);

  std::string model, obs, input, corpus = "examples/data/brown", tagset = "base", smoothing = "interpolation", out;
  bool json = false;
  Index iterations = 10;
  double tol = 1e-2, k = 0.1;
  int order = 3;
  std::size_t max_files = 500;

  auto* decode = app.add_subcommand("decode", "Log-likelihood and Viterbi path of each sequence");
  decode->add_option("--model", model, "JSON {\"startprob\": [...], \"transmat\": [[...]], \"emissionprob\": [[...]]}")
      ->required();
  decode->add_option("--obs", obs, "Symbol ids, whitespace-separated, one sequence per line")->required();
  decode->add_flag("--json", json, "Print one JSON object per sequence: log_likelihood, viterbi_log_prob, path");

  auto* fit = app.add_subcommand("fit", "Baum-Welch from the given tables over all sequences together");
  fit->add_option("--model", model, "Initial tables, JSON as for decode")->required();
  fit->add_option("--obs", obs, "Symbol ids, one sequence per line")->required();
  fit->add_option("--iterations", iterations, "Maximum number of EM iterations")->required()->check(CLI::PositiveNumber);
  fit->add_option("--tol", tol, "Stop when the log-likelihood gains less than this")->capture_default_str();
  fit->add_flag("--json", json, "Print the tables, history, iterations and converged as one JSON line");

  auto* train = app.add_subcommand("train-tagger", "Train a Brown POS tagger; report held-out accuracy");
  train->add_option("--corpus", corpus, "Directory of Brown files ca01 ... cr09")->capture_default_str();
  train->add_option("--tagset", tagset, "full or base (-tl, -hl and * removed)")->capture_default_str();
  train->add_option("--order", order, "2 (bigram HMM) or 3 (trigram HMM)")->capture_default_str();
  train->add_option("--smoothing", smoothing, "interpolation or add_k")->capture_default_str();
  train->add_option("--k", k, "The k of add-k smoothing")->capture_default_str();
  train->add_option("--max-files", max_files, "Use only the first files of the corpus (quick runs)")->capture_default_str();
  train->add_option("--out", out, "Write the tagger here");

  auto* tag = app.add_subcommand("tag", "Tag whitespace-tokenized sentences, one per line");
  tag->add_option("--model", model, "A tagger written by train-tagger --out")->required();
  tag->add_option("--input", input, "Text file (default: standard input)");

  CLI11_PARSE(app, argc, argv);
  try {
    if (decode->parsed()) return run_decode(model, obs, json);
    if (fit->parsed()) return run_fit(model, obs, iterations, tol, json);
    if (train->parsed()) return run_train_tagger(corpus, tagset, order, smoothing, k, max_files, out);
    if (tag->parsed()) return run_tag(model, input);
  } catch (const std::exception& e) {  // elm::Error and anything else: a message and status 1, never an abort
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
