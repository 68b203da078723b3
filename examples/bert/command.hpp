// SPDX-License-Identifier: MIT
// What elm-bert's subcommands share: texts from --text or a JSON-lines file, a sentence encoder loaded from a
// model directory (its recipe from io::sentence_transformer_config), embeddings in batches with a progress bar,
// JSON output.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../common/commands.hpp"
#include "../common/json_lines.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/io/hf_config.hpp"
#include "elm/models/bert.hpp"
#include "elm/nn/quantized_weights.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"

namespace elm::examples::bert {

using Commands = examples::Commands;

/// The texts a command works on: each --text, then one per line of a JSON-lines file, each line an object
/// {"text": ...} (blank lines skipped). Throws InvalidArgument when there are none, FormatError naming the file
/// and line of a line that is not such an object, IoError for a file that cannot be read.
inline std::vector<std::string> read_texts(const std::vector<std::string>& texts, const std::string& jsonl) {
  std::vector<std::string> out = texts;
  if (!jsonl.empty()) {
    std::ifstream in(jsonl, std::ios::binary);
    ELM_EXPECT(in.good(), IoError, "elm-bert: cannot open ", jsonl);
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const nlohmann::json doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      ELM_EXPECT(doc.is_object() && doc.contains("text") && doc.at("text").is_string(), FormatError, "elm-bert: ",
                 jsonl, " line ", number, ": expected a JSON object {\"text\": \"...\"}, got ",
                 line.substr(0, 80));
      out.push_back(doc.at("text").get<std::string>());
    }
  }
  ELM_EXPECT(!out.empty(), InvalidArgument, "elm-bert: no text given, expected --text or --jsonl with at least one "
             "line");
  return out;
}

/// Registers --text (repeatable) and --jsonl on cmd.
inline void add_text_options(CLI::App* cmd, std::vector<std::string>& texts, std::string& jsonl) {
  cmd->add_option("--text", texts, "A text (repeat the option for several)");
  cmd->add_option("--jsonl", jsonl, "A file of one JSON object {\"text\": ...} per line");
}

/// A progress line on standard error for work over n items, redrawn at most four times a second; silent for
/// quiet or for a single batch.
class ItemProgress {
 public:
  ItemProgress(const char* what, std::size_t n, bool quiet) : what_(what), n_(n), quiet_(quiet) {}
  void operator()(std::size_t done) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done < n_ && now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const int width = 30, filled = int(double(width) * double(done) / double(std::max<std::size_t>(n_, 1)) + 0.5);
    std::fprintf(stderr, "\r[%s%s] %zu/%zu %s  %.0f/s  %.0fs ", std::string(std::size_t(filled), '#').c_str(),
                 std::string(std::size_t(width - filled), '.').c_str(), done, n_, what_,
                 seconds > 0 ? double(done) / seconds : 0.0, seconds);
    if (done >= n_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  const char* what_;
  std::size_t n_;
  bool quiet_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(),
                                        last_ = std::chrono::steady_clock::now();
};

/// A sentence encoder: BERT's body from a model directory, its WordPiece tokenizer, and how its directory says to
/// pool (a sentence-transformers directory as shipped; a plain Hugging Face one: mean pooling, normalised).
/// A BertForMaskedLM directory (config.json's architectures) gives its encoder.
struct SentenceEncoder {
  models::Bert<float> model;
  text::WordPieceTokenizer tokenizer;
  io::SentenceTransformerConfig recipe;

  static models::Bert<float> load_body(const std::string& dir) {
    const io::HfConfig hf = io::HfConfig::load(dir + "/config.json");
    const auto& archs = hf.json().contains("architectures") ? hf.json().at("architectures") : nlohmann::json::array();
    if (archs.is_array() && archs.size() == 1 && archs[0] == "BertForMaskedLM")
      return io::load_bert_hf<models::BertForMaskedLM<float>>(dir).bert();
    return io::load_bert_hf<models::Bert<float>>(dir);
  }

  /// The directory's model, its dense weights kept in `dtype` (f32, bf16, int8: Bert::set_weight_dtype).
  explicit SentenceEncoder(const std::string& dir, const std::string& dtype = "f32")
      : model(load_body(dir)), tokenizer(io::load_bert_tokenizer(dir)), recipe(io::sentence_transformer_config(dir)) {
    if (recipe.max_seq_length <= 0 || recipe.max_seq_length > model.config().max_position_embeddings)
      recipe.max_seq_length = model.config().max_position_embeddings;
    model.set_weight_dtype(nn::parse_weight_dtype(dtype));
  }

  /// The embeddings of texts, (C, N), column i that of texts[i]: [CLS] text [SEP] truncated to the recipe's
  /// maximum length, in batches of batch_size, pooled and normalised as the recipe says.
  Matrix<float> embed(const std::vector<std::string>& texts, Index batch_size, bool quiet) const {
    text::EncodeOptions options;
    options.max_length = static_cast<std::size_t>(recipe.max_seq_length);
    Matrix<float> out(model.config().hidden_size, to_index(texts.size()));
    ItemProgress progress("texts", texts.size(), quiet || to_index(texts.size()) <= batch_size);
    for (std::size_t begin = 0; begin < texts.size(); begin += std::size_t(batch_size)) {
      const std::size_t end = std::min(texts.size(), begin + std::size_t(batch_size));
      std::vector<std::vector<Index>> ids, types;
      for (std::size_t i = begin; i < end; ++i) {
        text::Encoding e = tokenizer.encode(texts[i], options);
        ids.push_back(std::move(e.ids));
        types.push_back(std::move(e.type_ids));
      }
      const models::BertBatch batch = models::BertBatch::pad(ids, types, tokenizer.pad_id());
      Matrix<float> hidden, pooled;
      model.forward(batch, hidden, pooled);
      out.middleCols(to_index(begin), to_index(end - begin)) =
          models::pool_sentences<float>(hidden, batch, recipe.pooling, recipe.normalize);
      progress(end);
    }
    return out;
  }
};

/// Registers --dtype on cmd: how the encoder keeps its dense weights (SentenceEncoder).
inline void add_weight_dtype_option(CLI::App* cmd, std::string& dtype) {
  cmd->add_option("--dtype", dtype,
                  "Dense weights in f32, bf16 (half the bytes) or int8 (blocks of 32 with a scale, as llama.cpp's "
                  "Q8_0); activations stay float32")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->capture_default_str();
}

/// Registers --batch on cmd.
inline void add_batch_option(CLI::App* cmd, Index& batch) {
  cmd->add_option("--batch", batch, "Texts per forward pass")->check(CLI::PositiveNumber)->capture_default_str();
}

}  // namespace elm::examples::bert
