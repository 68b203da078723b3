// SPDX-License-Identifier: MIT
// elm-bert classify: the class of each text by a fine-tuned BertForSequenceClassification directory (config.json,
// model.safetensors, vocab.txt), as text or one JSON object per line.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../common/commands.hpp"
#include "../common/json_lines.hpp"
#include "elm/core/error.hpp"
#include "elm/core/math.hpp"
#include "elm/core/types.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/bert.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"

namespace elm::examples::bert {

/// Token ids of texts as BERT's tokenizer makes them, [CLS] text [SEP], truncated to max_length tokens.
inline std::vector<std::vector<Index>> encode_texts(const text::WordPieceTokenizer& tokenizer,
                                                    const std::vector<std::string>& texts, Index max_length) {
  text::EncodeOptions options;
  options.max_length = static_cast<std::size_t>(max_length);
  std::vector<std::vector<Index>> out;
  out.reserve(texts.size());
  for (const std::string& t : texts) out.push_back(tokenizer.encode(t, options).ids);
  return out;
}

/// The logits of sequences, padded and run `batch` at a time (inference): (num_labels, N).
template <typename Scalar>
Matrix<Scalar> classifier_logits(const models::BertForSequenceClassification<Scalar>& model,
                                 const std::vector<std::vector<Index>>& sequences, Index pad_id, Index batch) {
  Matrix<Scalar> out(model.config().num_labels, to_index(sequences.size())), logits;
  for (std::size_t first = 0; first < sequences.size(); first += to_size(batch)) {
    const std::size_t last = std::min(sequences.size(), first + to_size(batch));
    const std::vector<std::vector<Index>> some(sequences.begin() + std::ptrdiff_t(first),
                                               sequences.begin() + std::ptrdiff_t(last));
    model.forward(models::BertBatch::pad(some, {}, pad_id), logits);
    out.middleCols(to_index(first), logits.cols()) = logits;
  }
  return out;
}

/// The "text" of each line of a JSON-lines file. Throws IoError or FormatError naming the file and the line.
inline std::vector<std::string> read_jsonl_texts(const std::string& path) {
  std::ifstream in(path);
  ELM_EXPECT(in.good(), IoError, "elm-bert: cannot open ", path);
  std::vector<std::string> texts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(fmt::format("elm-bert: {} line {}: not JSON ({})", path, number, e.what()));
    }
    ELM_EXPECT(j.is_object() && j.contains("text") && j.at("text").is_string(), FormatError, "elm-bert: ", path,
               " line ", number, ": ", line, ", expected an object {\"text\": ...}");
    texts.push_back(j.at("text").get<std::string>());
  }
  return texts;
}

/// What `classify` is told.
struct ClassifyArgs {
  std::string model_dir, jsonl;
  std::vector<std::string> texts;
  Index max_length = 0, batch = 16;
  bool json = false;
};

inline int run_classify(const ClassifyArgs& a) {
  ELM_EXPECT(a.texts.empty() != a.jsonl.empty(), InvalidArgument,
             "elm-bert classify: expected texts given by --text or by --jsonl, not both and not neither");
  ELM_EXPECT(a.batch > 0 && a.max_length >= 0, InvalidArgument, "elm-bert classify: --batch = ", a.batch,
             " and --max-length = ", a.max_length, ", expected > 0 and >= 0");
  const auto model = io::load_bert_hf<models::BertForSequenceClassification<float>>(a.model_dir);
  const text::WordPieceTokenizer tokenizer = io::load_bert_tokenizer(a.model_dir);
  const models::BertConfig& config = model.config();
  ELM_EXPECT(tokenizer.vocab_size() <= config.vocab_size, FormatError, "elm-bert classify: ", a.model_dir,
             "/vocab.txt has ", tokenizer.vocab_size(), " tokens, more than the model's vocab_size = ",
             config.vocab_size);
  const Index max_length = a.max_length > 0 ? std::min(a.max_length, config.max_position_embeddings)
                                            : config.max_position_embeddings;
  const std::vector<std::string> texts = a.jsonl.empty() ? a.texts : read_jsonl_texts(a.jsonl);
  const Matrix<float> logits =
      classifier_logits(model, encode_texts(tokenizer, texts, max_length), tokenizer.pad_id(), a.batch);
  Matrix<float> probabilities;
  softmax_columns<float>(logits, probabilities);
  for (Index n = 0; n < logits.cols(); ++n) {
    const auto p = probabilities.col(n);
    Index best = 0;
    p.maxCoeff(&best);
    if (a.json) {
      JsonObject probs;
      for (Index k = 0; k < p.size(); ++k) probs.add(config.label_name(k), json_number(p(k)));
      print_json_line(
          JsonObject().add("label", json_string(config.label_name(best))).add("id", json_number(best))
              .add("probabilities", probs.str()).str());
    } else {
      fmt::print("{}\t{:.4f}\t{}\n", config.label_name(best), p(best), texts[to_size(n)]);
    }
  }
  return 0;
}

/// Registers `classify` on app.
inline CLI::App* add_classify_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<ClassifyArgs>();
  auto* c = app.add_subcommand("classify", "The class of each text by a BertForSequenceClassification directory "
                                           "(config.json, model.safetensors, vocab.txt), e.g. one `finetune` wrote");
  c->add_option("--model", a->model_dir, "The model directory")->required();
  c->add_option("--text", a->texts, "A text to classify (repeat for several)");
  c->add_option("--jsonl", a->jsonl, "A file of one JSON object {\"text\": ...} per line");
  c->add_option("--max-length", a->max_length, "Truncate to this many tokens, [CLS] and [SEP] included (0: the "
                                               "model's max_position_embeddings)")->capture_default_str();
  c->add_option("--batch", a->batch, "Texts per forward")->capture_default_str();
  c->add_flag("--json", a->json, "One JSON object per text: {\"label\", \"id\", \"probabilities\": {label: p}}; "
                                 "otherwise label, probability and text, tab-separated");
  commands.add(c, [a] { return run_classify(*a); });
  return c;
}

}  // namespace elm::examples::bert
