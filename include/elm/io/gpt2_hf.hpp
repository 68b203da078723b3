// SPDX-License-Identifier: MIT
// Hugging Face GPT-2 model directories (config.json, model.safetensors): read into a models::Gpt2 and written
// from one, in the layout transformers' save_pretrained writes and from_pretrained reads; their tokenizer
// (vocab.json, merges.txt) read into a text::BpeTokenizer.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/core/error.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/detail/hf_directory.hpp"
#include "elm/io/hf_config.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/text/bpe_tokenizer.hpp"

namespace elm::io {

/// The architectures a GPT-2 config.json may name: the language model and the bare body (whose head, tied to
/// the token table, is the same), and the double-heads model (the same language model beside a multiple-choice
/// head that is not read).
inline constexpr const char* gpt2_architectures[] = {"GPT2LMHeadModel", "GPT2Model", "GPT2DoubleHeadsModel"};

/// A GPT-2 configuration from a Hugging Face config.json (model_type "gpt2"). Throws FormatError naming the file
/// and the key for a missing or mistyped size, for sizes out of their domain (a non-positive size, n_head not
/// dividing n_embd, a dropout outside [0, 1)), for an architecture other than gpt2_architectures, and for the
/// options this implementation does not have (scale_attn_weights false, scale_attn_by_inverse_layer_idx,
/// reorder_and_upcast_attn, add_cross_attention, untied embeddings, an activation other than gelu_new,
/// gelu_pytorch_tanh, gelu or relu). bos_token_id and eos_token_id default to 50256 when absent, as
/// GPT2Config's do.
inline models::Gpt2Config gpt2_config(const HfConfig& hf) {
  const std::string where = "elm::io::gpt2_config: " + hf.source();
  const std::string type = hf.get_or<std::string>("model_type", "gpt2");
  ELM_EXPECT(type == "gpt2", FormatError, where, ": model_type is \"", type, "\", expected \"gpt2\"");
  if (hf.contains("architectures") && !hf.json().at("architectures").is_null()) {
    const nlohmann::json& architectures = hf.json().at("architectures");
    ELM_EXPECT(architectures.is_array(), FormatError, where, ": architectures is ",
               detail::json_text(architectures),
               ", expected a list of class names");
    for (const nlohmann::json& a : architectures) {
      const auto known = [&] {
        for (const char* name : gpt2_architectures)
          if (a.is_string() && a.get<std::string>() == name) return true;
        return false;
      };
      ELM_EXPECT(known(), FormatError, where, ": architectures names ", detail::json_text(a),
                 ", expected GPT2LMHeadModel, GPT2Model or GPT2DoubleHeadsModel (a GPT-2 language model)");
    }
  }
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
  c.bos_token_id = detail::hf_token_id(hf, "bos_token_id", c.bos_token_id);
  c.eos_token_id = detail::hf_token_id(hf, "eos_token_id", c.eos_token_id);
  c.pad_token_id = detail::hf_token_id(hf, "pad_token_id", c.pad_token_id);
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
  ELM_EXPECT(!hf.get_or<bool>("add_cross_attention", false), FormatError, where,
             ": add_cross_attention is true (an encoder-decoder's cross-attention), which GPT-2 does not have");
  try {
    c.check(where);
  } catch (const InvalidArgument& e) {
    throw FormatError(e.what());  // a file that describes no model is a bad file
  }
  return c;
}

/// The config.json of a GPT-2 configuration, with the keys transformers' GPT2Config reads (those gpt2_config
/// reads, the same values, and the fixed options elm implements: scale_attn_weights true, tied embeddings,
/// no cross-attention), architectures ["GPT2LMHeadModel"], and `dtype` named as PyTorch names it.
inline nlohmann::json gpt2_config_json(const models::Gpt2Config& c, Dtype dtype = Dtype::F32) {
  const auto id = [](const std::optional<Index>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  nlohmann::json j = nlohmann::json::object();  // keys in sorted order, as transformers writes them
  j["activation_function"] = detail::hf_activation_name(c.activation);
  j["add_cross_attention"] = false;
  j["architectures"] = {"GPT2LMHeadModel"};
  j["attn_pdrop"] = c.attn_pdrop;
  j["bos_token_id"] = id(c.bos_token_id);
  j["dtype"] = detail::torch_dtype_name(dtype);
  j["embd_pdrop"] = c.embd_pdrop;
  j["eos_token_id"] = id(c.eos_token_id);
  j["initializer_range"] = c.initializer_range;
  j["layer_norm_epsilon"] = c.layer_norm_epsilon;
  j["model_type"] = "gpt2";
  j["n_ctx"] = c.n_positions;
  j["n_embd"] = c.n_embd;
  j["n_head"] = c.n_head;
  j["n_inner"] = c.n_inner > 0 ? nlohmann::json(c.n_inner) : nlohmann::json(nullptr);
  j["n_layer"] = c.n_layer;
  j["n_positions"] = c.n_positions;
  j["pad_token_id"] = id(c.pad_token_id);
  j["reorder_and_upcast_attn"] = false;
  j["resid_pdrop"] = c.resid_pdrop;
  j["scale_attn_by_inverse_layer_idx"] = false;
  j["scale_attn_weights"] = true;
  j["tie_word_embeddings"] = true;
  j["use_cache"] = true;
  j["vocab_size"] = c.vocab_size;
  return j;
}

namespace detail {

/// GPT-2's parameter count from its config (tied LM head counted once): embeddings, per block two LayerNorms,
/// the fused QKV and output projections and the MLP, and the final LayerNorm.
inline long double gpt2_parameter_count(const models::Gpt2Config& c) {
  const long double V = c.vocab_size, P = c.n_positions, C = c.n_embd, L = c.n_layer;
  const long double F = c.n_inner > 0 ? c.n_inner : 4 * C;
  const long double block = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * F + F) + (F * C + C);
  return V * C + P * C + L * block + 2 * C;
}

}  // namespace detail

/// Loads a Hugging Face GPT-2 directory: config.json and model.safetensors (F32, F16 or BF16; names with or
/// without the "transformer." prefix; lm_head.weight, tied to wte, is not read). Throws IoError or FormatError
/// naming the file and the tensor; nothing partially loaded is returned.
template <typename Scalar = float>
models::Gpt2<Scalar> load_gpt2_hf(const std::string& directory) {
  constexpr const char* where = "elm::io::load_gpt2_hf";
  const std::string weights_path = detail::hf_weights_path(where, directory, "GPT2LMHeadModel");
  const HfConfig hf = HfConfig::load(directory + "/config.json");
  const models::Gpt2Config config = gpt2_config(hf);
  const SafetensorsReader reader(weights_path);
  detail::check_config_fits_weights(where, hf.source(), detail::gpt2_parameter_count(config), reader);
  models::Gpt2<Scalar> model(config);
  LoadOptions options;
  options.prefix = reader.contains("transformer.wte.weight") ? "transformer" : "";
  options.strict = false;  // the causal-mask buffers of older files (h.<i>.attn.bias) and lm_head are not ours
  options.in_place = true;  // the model is discarded on failure: no second copy of the weights at the peak
  const LoadReport report = load_parameters(reader, model, options);
  ELM_EXPECT(report.missing_keys.empty(), FormatError, where, ": ", weights_path,
             " has no tensor for parameter '", report.missing_keys.empty() ? "" : report.missing_keys.front(), "' (",
             report.missing_keys.size(), " missing in all)");
  for (const std::string& name : report.unexpected_keys) {
    const bool buffer = detail::ends_with(name, ".attn.bias") || detail::ends_with(name, ".attn.masked_bias");
    ELM_EXPECT(buffer || name == "lm_head.weight", FormatError, where, ": ", weights_path,
               " has tensor '", name, "', which GPT-2 does not have");
  }
  return model;
}

/// Writes a Hugging Face GPT-2 directory that transformers' GPT2LMHeadModel.from_pretrained loads and
/// load_gpt2_hf reads back: config.json (gpt2_config_json) and model.safetensors as save_pretrained lays it out
/// (every parameter under "transformer.", names sorted, Conv1D weights as (in, out), lm_head.weight left out as
/// it is the token table, __metadata__ {"format": "pt"}), in `dtype`: F32 (the default), F16, BF16 (rounded to
/// nearest even) or F64. The directory is created if missing; other files in it (vocab.json, merges.txt) are
/// left alone. Atomic: both files are written completely beside their targets before either replaces a previous
/// version (write_files_atomically), so a failure leaves the directory as it was. Throws InvalidArgument for a
/// dtype that is not floating-point, RangeError for a parameter value the dtype cannot represent (above 65504 in
/// F16), IoError when the directory or a file cannot be written.
template <typename Scalar>
void save_gpt2_hf(const models::Gpt2<Scalar>& model, const std::string& directory, Dtype dtype = Dtype::F32) {
  constexpr const char* where = "elm::io::save_gpt2_hf";
  const SafetensorsWriter writer = detail::hf_weights_writer(model, "transformer", dtype, where);
  detail::write_hf_directory(where, directory, writer, gpt2_config_json(model.config(), dtype));
}

/// GPT-2's byte-level BPE tokenizer from a model directory's vocab.json and merges.txt (what Hugging Face's
/// GPT2Tokenizer reads), with <|endoftext|> as a special token. Throws IoError naming the directory and the file
/// it lacks, FormatError naming the malformed file (bad JSON, ids not 0..V-1, a merge of unknown tokens, no
/// <|endoftext|> in the vocabulary). Encoding text that is not valid UTF-8 throws FormatError with its offset.
inline text::BpeTokenizer load_gpt2_tokenizer(const std::string& directory) {
  constexpr std::string_view where = "elm::io::load_gpt2_tokenizer";
  const std::string vocab_path = directory + "/vocab.json";
  const std::string merges_path = directory + "/merges.txt";
  for (const std::string* path : {&vocab_path, &merges_path})
    ELM_EXPECT(std::filesystem::is_regular_file(*path), IoError, where, ": ", directory, " has no ",
               std::filesystem::path(*path).filename().string(),
               ", expected vocab.json and merges.txt beside config.json (Hugging Face's GPT-2 tokenizer files)");
  text::BpeTokenizer tokenizer = text::BpeTokenizer::from_files(vocab_path, merges_path);
  ELM_EXPECT(tokenizer.token_to_id("<|endoftext|>") >= 0, FormatError, where, ": ", vocab_path,
             " has no token <|endoftext|>, expected GPT-2's end-of-text token");
  return tokenizer;
}

}  // namespace elm::io
