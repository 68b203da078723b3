// SPDX-License-Identifier: MIT
// What the Hugging Face model-directory formats (io/gpt2_hf.hpp, io/bert_hf.hpp) share: finding the weights of a
// directory, writing config.json and model.safetensors together, dtype names and checks, config.json's token ids.
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
#include "elm/core/types.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/hf_config.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::io::detail {

/// The name transformers gives an activation in config.json ("gelu_new" for the tanh form).
inline const char* hf_activation_name(nn::ActivationKind kind) {
  return kind == nn::ActivationKind::gelu_tanh ? "gelu_new" : nn::activation_name(kind);
}

inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// A token id of config.json: `fallback` when the key is absent (the config class's default), empty when null.
inline std::optional<Index> hf_token_id(const HfConfig& hf, std::string_view key, std::optional<Index> fallback) {
  if (!hf.contains(key)) return fallback;
  if (hf.json().at(std::string(key)).is_null()) return std::nullopt;
  return hf.get<Index>(key);
}

/// PyTorch's name of a floating-point dtype, as config.json's "dtype" gives it.
inline const char* torch_dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::F16: return "float16";
    case Dtype::BF16: return "bfloat16";
    case Dtype::F64: return "float64";
    default: return "float32";
  }
}

/// Throws RangeError when a finite value of `value` would not be finite once stored as `dtype` (above 65504 in
/// F16; above float's range in F32 or BF16, for a double model): a checkpoint holds what the model holds.
template <typename Scalar>
void check_representable(const Matrix<Scalar>& value, Dtype dtype, const std::string& name, std::string_view where) {
  if (dtype == Dtype::F64) return;
  double largest = 0.0;
  for (Index i = 0; i < value.size(); ++i)
    if (std::isfinite(value.data()[i])) largest = std::max(largest, std::abs(double(value.data()[i])));
  const auto stored = static_cast<float>(largest);
  const bool fits = std::isfinite(stored) &&
                    (dtype != Dtype::F16 || std::isfinite(half_to_float(float_to_half(stored)))) &&
                    (dtype != Dtype::BF16 || std::isfinite(bfloat16_to_float(float_to_bfloat16(stored))));
  ELM_EXPECT(fits, RangeError, where, ": parameter '", name, "' holds ", largest, ", which ", dtype_name(dtype),
             " cannot represent (it would be stored as infinity), expected |value| <= ",
             dtype == Dtype::F16 ? 65504.0 : double(std::numeric_limits<float>::max()));
}

/// The model.safetensors of a Hugging Face model directory, after checking that the directory and its
/// config.json exist. Throws IoError for a missing directory, config.json or weights; FormatError for a sharded
/// checkpoint, and for a pytorch_model.bin without model.safetensors, naming the one-line conversion through
/// transformers' `model_class`.
inline std::string hf_weights_path(std::string_view where, const std::string& directory, std::string_view model_class) {
  const std::string weights_path = directory + "/model.safetensors";
  ELM_EXPECT(std::filesystem::is_directory(directory), IoError, where, ": ", directory,
             " is not a directory, expected a Hugging Face model directory (config.json, model.safetensors)");
  ELM_EXPECT(std::filesystem::exists(directory + "/config.json"), IoError, where, ": ", directory,
             " has no config.json, expected a Hugging Face model directory (config.json, model.safetensors)");
  ELM_EXPECT(std::filesystem::exists(weights_path) || !std::filesystem::exists(weights_path + ".index.json"),
             FormatError, where, ": ", directory, " holds a sharded checkpoint (model.safetensors.index.json), ",
             "which elm does not read, expected one model.safetensors");
  if (!std::filesystem::exists(weights_path) && std::filesystem::exists(directory + "/pytorch_model.bin"))
    throw FormatError(elm::detail::concat(
        where, ": ", directory, " holds pytorch_model.bin (a PyTorch pickle, which elm does not ",
        "read), expected model.safetensors; convert it once with: python -c \"import transformers; ",
        "transformers.", model_class, ".from_pretrained('", directory, "').save_pretrained('", directory,
        "', safe_serialization=True)\""));
  ELM_EXPECT(std::filesystem::exists(weights_path), IoError, where, ": ", directory,
             " has no model.safetensors, expected the weights beside config.json");
  return weights_path;
}

/// Refuses, before the model is built, a config.json whose sizes describe far more parameters than the weights file
/// holds values. Each size of a config is capped (2^31), but together they can still describe a model of 10^15
/// parameters, which building would try to allocate; the weights file, whose size vouches for what it holds (the
/// reader checked every tensor against the bytes present), bounds what a load may allocate: twice its values and
/// 2^24 parameters (64 MB of floats) more at most. Smaller mismatches (a missing tensor, a wrong width in a small
/// model) are left to the load, which names the tensor. `parameters` is the model's count from the config, in long
/// double so that no product of sizes overflows.
inline void check_config_fits_weights(std::string_view where, const std::string& config_source, long double parameters,
                                      const SafetensorsReader& reader) {
  long double values = 0;
  for (const std::string& name : reader.names()) values += static_cast<long double>(reader.info(name).numel());
  ELM_EXPECT(parameters <= 2 * values + (1 << 24), FormatError, where, ": ", config_source, " describes a model of ",
             static_cast<double>(parameters), " parameters, but ", reader.path(), " holds ", static_cast<double>(values),
             " values in all: the config's sizes do not match the weights (refused before allocating the model)");
}

/// The safetensors writer of a model's parameters as save_pretrained lays them out: every parameter visited under
/// `prefix`, names sorted (safetensors' own order), in `dtype`, __metadata__ {"format": "pt"}. Throws
/// InvalidArgument for a dtype that is not floating-point, RangeError for a value the dtype cannot represent.
template <typename Model>
SafetensorsWriter hf_weights_writer(const Model& model, std::string_view prefix, Dtype dtype, std::string_view where) {
  using Scalar = typename Model::scalar_type;
  ELM_EXPECT(is_float_dtype(dtype), InvalidArgument, where, ": dtype ", dtype_name(dtype),
             ", expected F32, F16, BF16 or F64");
  std::vector<std::pair<std::string, const nn::Parameter<Scalar>*>> parameters;
  model.for_each_parameter(prefix, [&](const std::string& name, const nn::Parameter<Scalar>& p) {
    parameters.emplace_back(name, &p);
  });
  std::sort(parameters.begin(), parameters.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const auto& [name, p] : parameters) {
    check_representable(p->value, dtype, name, where);
    writer.add(name, p->shape, p->value, dtype);
  }
  return writer;
}

/// Writes a model directory: creates it if missing, then model.safetensors and config.json together
/// (write_files_atomically: the weights first, so a config.json never names weights that are not there yet; on
/// failure both keep their previous content). Other files in the directory are left alone. Throws IoError when the
/// directory or a file cannot be written.
inline void write_hf_directory(std::string_view where, const std::string& directory, const SafetensorsWriter& weights,
                               const nlohmann::json& config) {
  const std::string config_text = config.dump(2) + "\n";
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  ELM_EXPECT(std::filesystem::is_directory(directory), IoError, where, ": cannot create the directory ", directory,
             ec ? ": " + ec.message() : std::string());
  write_files_atomically(
      {FileContent{directory + "/model.safetensors", [&](std::ostream& out) { weights.write(out); }},
       FileContent{directory + "/config.json", [&](std::ostream& out) {
                     out.write(config_text.data(), static_cast<std::streamsize>(config_text.size()));
                   }}});
}

}  // namespace elm::io::detail
