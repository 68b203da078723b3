// SPDX-License-Identifier: MIT
// elm-bert fill-mask: the most likely tokens and their probabilities at each [MASK] of a text, as transformers'
// fill-mask pipeline gives them, from a BertForMaskedLM directory.
#pragma once

#include <fmt/core.h>

#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "elm/models/masked_lm.hpp"

namespace elm::examples::bert {

struct FillMaskArgs {
  std::string model_dir, jsonl;
  std::vector<std::string> texts;
  Index top_k = 5;
  bool json = false;
};

inline int run_fill_mask(const FillMaskArgs& a) {
  const std::vector<std::string> texts = read_texts(a.texts, a.jsonl);
  const auto model = io::load_bert_hf<models::BertForMaskedLM<float>>(a.model_dir);
  const text::WordPieceTokenizer tokenizer = io::load_bert_tokenizer(a.model_dir);
  const auto token = [&](Index id) { return tokenizer.vocabulary().tokens()[std::size_t(id)]; };
  for (const std::string& t : texts) {  // one text at a time: an error names the text
    const text::Encoding e = tokenizer.encode(t);  // not truncated: a [MASK] is never cut off
    std::vector<models::MaskPrediction> predictions;
    try {
      predictions = models::fill_mask(model, models::BertBatch::pad({e.ids}), tokenizer.mask_id(), a.top_k);
    } catch (const InvalidArgument& error) {
      throw InvalidArgument(fmt::format("elm-bert fill-mask: the text {} has no {} (the mask token): {}",
                                        json_string(t), tokenizer.config().mask_token, error.what()));
    }
    if (a.json) {
      // {"text": ..., "masks": [{"position": t, "predictions": [{"id", "token", "score"}, ...]}, ...]}
      const auto mask = [&](const models::MaskPrediction& p) {
        std::string candidates = "[";
        for (std::size_t j = 0; j < p.ids.size(); ++j)
          candidates += (j ? ", " : "") + JsonObject()
                                               .add("id", json_number(p.ids[j]))
                                               .add("token", json_string(token(p.ids[j])))
                                               .add("score", json_number(p.probabilities[j]))
                                               .str();
        return JsonObject().add("position", json_number(p.position)).add("predictions", candidates + "]").str();
      };
      print_json_line(JsonObject().add("text", json_string(t)).add("masks", json_array(predictions, mask)).str());
      continue;
    }
    fmt::print("{}\n", t);
    for (const auto& p : predictions) {
      fmt::print("  [MASK] at {}:", p.position);
      for (std::size_t j = 0; j < p.ids.size(); ++j) fmt::print("  {} {:.4f}", token(p.ids[j]), p.probabilities[j]);
      fmt::print("\n");
    }
  }
  return 0;
}

/// Registers `fill-mask` on app.
inline CLI::App* add_fill_mask_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<FillMaskArgs>();
  CLI::App* cmd = app.add_subcommand("fill-mask", "The most likely tokens and their probabilities at each [MASK] "
                                                  "of each text (transformers' fill-mask pipeline)");
  cmd->add_option("--model", a->model_dir, "BertForMaskedLM directory (config.json, model.safetensors, vocab.txt)")
      ->required();
  add_text_options(cmd, a->texts, a->jsonl);
  cmd->add_option("--top-k", a->top_k, "Tokens per [MASK]")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON object per text: {\"text\", \"masks\": [{\"position\", "
                                   "\"predictions\": [{\"id\", \"token\", \"score\"}, ...]}, ...]}");
  commands.add(cmd, [a] { return run_fill_mask(*a); });
  return cmd;
}

}  // namespace elm::examples::bert
