// SPDX-License-Identifier: MIT
// What elm-gpt's subcommands share: a model directory loaded with its tokenizer, token-id lists on the command
// line, JSON output (examples/common/commands.hpp registers and runs them).
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../common/commands.hpp"
#include "../common/json_lines.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/quantized_weights.hpp"
#include "elm/text/bpe_tokenizer.hpp"

namespace elm::examples::gpt {

using Commands = examples::Commands;

/// "464,2068,7586" -> {464, 2068, 7586}. Throws InvalidArgument naming the option and the entry that is not a
/// non-negative integer (the model checks the range).
inline std::vector<Index> parse_ids(const std::string& text, const std::string& option) {
  std::vector<Index> ids;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    std::string item = text.substr(pos, comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    std::size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || value < 0)
      throw InvalidArgument(fmt::format("{}: '{}' is not a token id, expected comma-separated non-negative integers "
                                        "such as 464,2068,7586",
                                        option, item));
    ids.push_back(static_cast<Index>(value));
    pos = comma + 1;
  }
  return ids;
}

/// A Hugging Face GPT-2 directory: the model, its tokenizer when vocab.json and merges.txt are there, and the
/// end-of-text id of its config.json.
template <typename Scalar>
struct ModelDirectory {
  models::Gpt2<Scalar> model;
  std::optional<text::BpeTokenizer> tokenizer;
  std::vector<Index> eos_token_ids;

  /// The tokenizer; throws IoError naming the file when the directory has none.
  const text::BpeTokenizer& require_tokenizer(const std::string& directory) const {
    if (!tokenizer) io::load_gpt2_tokenizer(directory);  // throws, naming the missing file
    return *tokenizer;
  }
};

/// Keeps the model's weights as --dtype says: bf16 or int8 (Gpt2::set_weight_dtype); f32 and f64 leave them.
template <typename Scalar>
void apply_weight_dtype(models::Gpt2<Scalar>& model, const std::string& dtype) {
  if (dtype != "f32" && dtype != "f64") model.set_weight_dtype(nn::parse_weight_dtype(dtype));
}

/// The directory's model, its weights kept as --dtype says (apply_weight_dtype), and its tokenizer.
template <typename Scalar>
ModelDirectory<Scalar> load_model_directory(const std::string& directory, const std::string& dtype = "f32") {
  ModelDirectory<Scalar> d{io::load_gpt2_hf<Scalar>(directory), std::nullopt, {}};
  apply_weight_dtype(d.model, dtype);
  namespace fs = std::filesystem;
  if (fs::exists(fs::path(directory) / "vocab.json") || fs::exists(fs::path(directory) / "merges.txt")) {
    d.tokenizer.emplace(io::load_gpt2_tokenizer(directory));
    if (d.tokenizer->vocab_size() > d.model.vocab_size())
      throw FormatError(fmt::format("{}/vocab.json has {} tokens, more than the model's V = {}: the tokenizer of "
                                    "another model?",
                                    directory, d.tokenizer->vocab_size(), d.model.vocab_size()));
  }
  // config.json's eos_token_id (GPT2Config's 50256 when the key is absent); one outside the vocabulary, left by a
  // model trained on another, is not used
  if (const std::optional<Index> eos = d.model.config().eos_token_id; eos) {
    if (*eos >= 0 && *eos < d.model.vocab_size())
      d.eos_token_ids.push_back(*eos);
    else
      std::fprintf(stderr, "note: %s/config.json's eos_token_id %ld is outside the vocabulary (V = %ld): not used\n",
                   directory.c_str(), static_cast<long>(*eos), static_cast<long>(d.model.vocab_size()));
  }
  return d;
}

/// Registers --dtype on cmd: f32 (float, the default) or f64 (double) computation, or float computation with the
/// weights of the dense layers and of the head kept in bf16 or int8 (llama.cpp's Q8_0 blocks of 32).
inline void add_dtype_option(CLI::App* cmd, std::string& dtype) {
  cmd->add_option("--dtype", dtype,
                  "f32 or f64: compute in float or double; bf16 or int8: compute in float with the weights of the "
                  "dense layers and the head kept in bfloat16 or in int8 (Q8_0: blocks of 32, a scale each)")
      ->check(CLI::IsMember({"f32", "f64", "bf16", "int8"}))
      ->capture_default_str();
}

/// run(Scalar{}) with the scalar --dtype names.
template <typename F>
int with_dtype(const std::string& dtype, F&& run) {
  return dtype == "f64" ? run(double{}) : run(float{});
}

}  // namespace elm::examples::gpt
