// SPDX-License-Identifier: MIT
// elm-bert search: semantic search over a corpus's sentences, the top-k neighbours of a query by the cosine
// similarity of their sentence embeddings.
#pragma once

#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "../common/austen.hpp"
#include "command.hpp"
#include "similarity_command.hpp"

namespace elm::examples::bert {

struct SearchArgs {
  std::string program, model_dir, corpus_dir, query, dtype = "f32";
  Index top_k = 5, batch = 32;
  std::size_t max_sentences = 2000;
  bool json = false, quiet = false;
};

/// The sentences of a folder's *.txt (examples/common/austen.hpp's split: lower-cased words), at most max of
/// them (0: all) spread evenly over the corpus.
inline std::vector<std::string> corpus_sentences(const std::string& dir, std::size_t max) {
  std::vector<std::string> all;
  for (const auto& path : text_files(dir, "elm-bert search")) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    for (auto& s : split_sentences(text.str()))
      if (s.find(' ') != std::string::npos) all.push_back(std::move(s));  // two words at least
  }
  if (max == 0 || max >= all.size()) return all;
  std::vector<std::string> some;
  for (std::size_t i = 0; i < max; ++i) some.push_back(all[i * all.size() / max]);
  return some;
}

inline int run_search(const SearchArgs& a) {
  const std::string dir = a.corpus_dir.empty() ? find_data_dir(a.program.c_str(), "austen") : a.corpus_dir;
  const std::vector<std::string> sentences = corpus_sentences(dir, a.max_sentences);
  const SentenceEncoder encoder(a.model_dir, a.dtype);
  Matrix<float> e = encoder.embed(sentences, a.batch, a.quiet);
  const Matrix<float> q = encoder.embed({a.query}, 1, true);
  e.conservativeResize(Eigen::NoChange, e.cols() + 1);
  e.col(e.cols() - 1) = q.col(0);
  const Index n = e.cols() - 1;
  std::vector<double> score(static_cast<std::size_t>(n), 0.0);
  for (Index i = 0; i < n; ++i) score[std::size_t(i)] = cosine(e, n, i);
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index(0));
  const auto k = std::min<Index>(a.top_k, n);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](Index x, Index y) { return score[std::size_t(x)] > score[std::size_t(y)]; });
  if (!a.json) fmt::print("{} sentences of {}; the {} nearest to \"{}\":\n", n, dir, k, a.query);
  for (Index r = 0; r < k; ++r) {
    const std::size_t i = std::size_t(order[std::size_t(r)]);
    if (a.json)
      print_json_line(JsonObject()
                          .add("rank", json_number(r + 1))
                          .add("score", json_number(score[i]))
                          .add("index", json_number(i))
                          .add("text", json_string(sentences[i]))
                          .str());
    else
      fmt::print("{:2}. {:.4f}  {}\n", r + 1, score[i], sentences[i]);
  }
  return 0;
}

/// Registers `search` on app; `program` (argv[0]) is where the bundled corpus is found from.
inline CLI::App* add_search_command(CLI::App& app, Commands& commands, const char* program) {
  auto a = std::make_shared<SearchArgs>();
  a->program = program;
  CLI::App* cmd = app.add_subcommand("search", "The sentences of a corpus nearest to a query (cosine similarity "
                                               "of sentence embeddings)");
  cmd->add_option("--model", a->model_dir, "Model directory (as for embed)")->required();
  cmd->add_option("--query", a->query, "The text to find neighbours of")->required();
  cmd->add_option("--corpus", a->corpus_dir, "Folder of *.txt whose sentences are searched (default: "
                                             "examples/data/austen)");
  cmd->add_option("--max-sentences", a->max_sentences, "Search this many sentences spread over the corpus (0: all)")
      ->capture_default_str();
  cmd->add_option("--top-k", a->top_k, "Neighbours printed")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON object {\"rank\", \"score\", \"index\", \"text\"} per "
                                   "neighbour");
  add_batch_option(cmd, a->batch);
  add_weight_dtype_option(cmd, a->dtype);
  cmd->add_flag("--quiet", a->quiet, "No progress bar");
  commands.add(cmd, [a] { return run_search(*a); });
  return cmd;
}

}  // namespace elm::examples::bert
