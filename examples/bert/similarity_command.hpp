// SPDX-License-Identifier: MIT
// elm-bert similarity: the cosine similarity of every pair of texts' sentence embeddings.
#pragma once

#include <fmt/core.h>

#include <memory>
#include <string>
#include <vector>

#include "command.hpp"

namespace elm::examples::bert {

struct SimilarityArgs {
  std::string model_dir, dtype = "f32", jsonl;
  std::vector<std::string> texts;
  Index batch = 32;
  bool json = false, quiet = false;
};

/// The cosine similarity of columns i and j of e.
inline double cosine(const Matrix<float>& e, Index i, Index j) {
  const double n = double(e.col(i).norm()) * double(e.col(j).norm());
  return n > 0.0 ? double(e.col(i).dot(e.col(j))) / n : 0.0;
}

inline int run_similarity(const SimilarityArgs& a) {
  const std::vector<std::string> texts = read_texts(a.texts, a.jsonl);
  ELM_EXPECT(texts.size() >= 2, InvalidArgument, "elm-bert similarity: ", texts.size(),
             " text given, expected at least two to compare");
  const Matrix<float> e = SentenceEncoder(a.model_dir, a.dtype).embed(texts, a.batch, a.quiet);
  const Index n = e.cols();
  if (a.json) {  // {"similarity": [[n floats], ...]}
    Matrix<double> similarity(n, n);
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j) similarity(j, i) = cosine(e, i, j);
    const auto row = [](const auto& column) { return json_numbers(column); };
    print_json_line(JsonObject().add("similarity", json_array(similarity.colwise(), row)).str());
    return 0;
  }
  for (Index i = 0; i < n; ++i)
    for (Index j = i + 1; j < n; ++j)
      fmt::print("{:.4f}  {}  |  {}\n", cosine(e, i, j), texts[std::size_t(i)], texts[std::size_t(j)]);
  return 0;
}

/// Registers `similarity` on app.
inline CLI::App* add_similarity_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<SimilarityArgs>();
  CLI::App* cmd = app.add_subcommand("similarity", "Cosine similarity of the sentence embeddings of every pair of "
                                                   "texts (at least two)");
  cmd->add_option("--model", a->model_dir, "Model directory (as for embed)")->required();
  add_text_options(cmd, a->texts, a->jsonl);
  cmd->add_flag("--json", a->json, "Print one JSON object {\"similarity\": [[n floats], ...]}, the n x n matrix");
  add_batch_option(cmd, a->batch);
  add_weight_dtype_option(cmd, a->dtype);
  cmd->add_flag("--quiet", a->quiet, "No progress bar");
  commands.add(cmd, [a] { return run_similarity(*a); });
  return cmd;
}

}  // namespace elm::examples::bert
