// SPDX-License-Identifier: MIT
// elm-bert embed: sentence embeddings of texts from a model directory, as sentence-transformers computes them
// (a sentence-transformers directory's own pooling, normalisation and maximum length; mean pooling and
// normalisation for a plain Hugging Face BERT directory).
#pragma once

#include <fmt/core.h>

#include <memory>
#include <string>
#include <vector>

#include "command.hpp"

namespace elm::examples::bert {

struct EmbedArgs {
  std::string model_dir, dtype = "f32", jsonl;
  std::vector<std::string> texts;
  Index batch = 32;
  bool json = false, quiet = false;
};

inline int run_embed(const EmbedArgs& a) {
  const std::vector<std::string> texts = read_texts(a.texts, a.jsonl);
  const SentenceEncoder encoder(a.model_dir, a.dtype);
  const Matrix<float> e = encoder.embed(texts, a.batch, a.quiet);
  for (Index i = 0; i < e.cols(); ++i) {
    if (a.json) {
      print_json_line(JsonObject().add("embedding", json_numbers(e.col(i))).str());
      continue;
    }
    std::string line;
    for (Index c = 0; c < e.rows(); ++c) line += fmt::format(c ? " {}" : "{}", e(c, i));
    std::fputs((line + "\n").c_str(), stdout);
  }
  return 0;
}

/// Registers `embed` on app.
inline CLI::App* add_embed_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<EmbedArgs>();
  CLI::App* cmd = app.add_subcommand(
      "embed", "Sentence embeddings, one per text in order: a sentence-transformers directory's pooling, "
               "normalisation and maximum length (modules.json), or mean pooling and normalisation");
  cmd->add_option("--model", a->model_dir, "Model directory (config.json, model.safetensors, vocab.txt; "
                                            "modules.json for sentence-transformers)")->required();
  add_text_options(cmd, a->texts, a->jsonl);
  cmd->add_flag("--json", a->json, "Print one JSON object {\"embedding\": [C floats]} per line, in order "
                                   "(without: the C numbers separated by spaces)");
  add_batch_option(cmd, a->batch);
  add_weight_dtype_option(cmd, a->dtype);
  cmd->add_flag("--quiet", a->quiet, "No progress bar");
  commands.add(cmd, [a] { return run_embed(*a); });
  return cmd;
}

}  // namespace elm::examples::bert
