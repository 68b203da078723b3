// SPDX-License-Identifier: MIT
// Hugging Face GPT-2 model directories (config.json, model.safetensors) read into a models::Gpt2.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "elm/core/error.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/hf_config.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/activations.hpp"

namespace elm::io {
namespace detail {

inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace detail

/// A GPT-2 configuration from a Hugging Face config.json (model_type "gpt2"). Throws FormatError naming the file
/// and the key for a missing or mistyped size, and for the options this implementation does not have
/// (scale_attn_weights false, scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn, untied embeddings, an
/// activation other than gelu_new, gelu or relu).
inline models::Gpt2Config gpt2_config(const HfConfig& hf) {
  const std::string where = "elm::io::gpt2_config: " + hf.source();
  const std::string type = hf.get_or<std::string>("model_type", "gpt2");
  ELM_EXPECT(type == "gpt2", FormatError, where, ": model_type is \"", type, "\", expected \"gpt2\"");
  models::Gpt2Config c;
  c.vocab_size = hf.get<Index>("vocab_size");
  c.n_positions = hf.contains("n_positions") ? hf.get<Index>("n_positions") : hf.get<Index>("n_ctx");
  c.n_embd = hf.get<Index>("n_embd");
  c.n_layer = hf.get<Index>("n_layer");
  c.n_head = hf.get<Index>("n_head");
  c.n_inner = hf.get_or<Index>("n_inner", 0);
  c.layer_norm_epsilon = hf.get_or<double>("layer_norm_epsilon", 1e-5);
  c.resid_pdrop = hf.get_or<double>("resid_pdrop", 0.1);
  c.embd_pdrop = hf.get_or<double>("embd_pdrop", 0.1);
  c.attn_pdrop = hf.get_or<double>("attn_pdrop", 0.1);
  c.initializer_range = hf.get_or<double>("initializer_range", 0.02);
  ELM_EXPECT(hf.get_or<bool>("tie_word_embeddings", true), FormatError, where,
             ": tie_word_embeddings is false, expected true (GPT-2's head is its token table)");
  const std::string act = hf.get_or<std::string>("activation_function", "gelu_new");
  ELM_EXPECT(act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu" || act == "relu", FormatError, where,
             ": activation_function is \"", act, "\", expected gelu_new, gelu_pytorch_tanh, gelu or relu");
  c.activation = nn::parse_activation(act);
  ELM_EXPECT(hf.get_or<bool>("scale_attn_weights", true), FormatError, where,
             ": scale_attn_weights is false, expected true (scores scaled by 1/sqrt(D))");
  ELM_EXPECT(!hf.get_or<bool>("scale_attn_by_inverse_layer_idx", false), FormatError, where,
             ": scale_attn_by_inverse_layer_idx is true, which this implementation does not have");
  ELM_EXPECT(!hf.get_or<bool>("reorder_and_upcast_attn", false), FormatError, where,
             ": reorder_and_upcast_attn is true, which this implementation does not have");
  c.check(where);
  return c;
}

/// Loads a Hugging Face GPT-2 directory: config.json and model.safetensors (F32, F16 or BF16; names with or
/// without the "transformer." prefix; lm_head.weight, tied to wte, is not read). Throws IoError or FormatError
/// naming the file and the tensor; nothing partially loaded is returned.
template <typename Scalar = float>
models::Gpt2<Scalar> load_gpt2_hf(const std::string& directory) {
  const std::string config_path = directory + "/config.json";
  const std::string weights_path = directory + "/model.safetensors";
  models::Gpt2<Scalar> model(gpt2_config(HfConfig::load(config_path)));
  if (!std::filesystem::exists(weights_path) && std::filesystem::exists(directory + "/pytorch_model.bin"))
    throw FormatError(elm::detail::concat(
        "elm::io::load_gpt2_hf: ", directory, " holds pytorch_model.bin (a PyTorch pickle, which elm does not ",
        "read), expected model.safetensors; convert it once with: python -c \"import transformers; ",
        "transformers.GPT2LMHeadModel.from_pretrained('", directory, "').save_pretrained('", directory,
        "', safe_serialization=True)\""));
  const SafetensorsReader reader(weights_path);
  LoadOptions options;
  options.prefix = reader.contains("transformer.wte.weight") ? "transformer" : "";
  options.strict = false;  // the causal-mask buffers of older files (h.<i>.attn.bias) and lm_head are not ours
  const LoadReport report = load_parameters(reader, model, options);
  ELM_EXPECT(report.missing_keys.empty(), FormatError, "elm::io::load_gpt2_hf: ", weights_path,
             " has no tensor for parameter '", report.missing_keys.empty() ? "" : report.missing_keys.front(), "' (",
             report.missing_keys.size(), " missing in all)");
  for (const std::string& name : report.unexpected_keys) {
    const bool buffer = detail::ends_with(name, ".attn.bias") || detail::ends_with(name, ".attn.masked_bias");
    ELM_EXPECT(buffer || name == "lm_head.weight", FormatError, "elm::io::load_gpt2_hf: ", weights_path,
               " has tensor '", name, "', which GPT-2 does not have");
  }
  return model;
}

}  // namespace elm::io
