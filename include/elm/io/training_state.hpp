// SPDX-License-Identifier: MIT
// Saving and restoring a training run (parameters, optimizer state, step) as one safetensors file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/nn/layer.hpp"

namespace elm::io {

/// Metadata value of the "format" key in a training-state file.
inline constexpr const char* training_state_format = "elm-training-state";

namespace detail {
inline std::vector<Index> state_shape(Index rows, Index cols) {
  return cols == 1 ? std::vector<Index>{rows} : std::vector<Index>{cols, rows};
}
}  // namespace detail

/// Writes every parameter of `module` under its own name, every optimizer state tensor as "optimizer.<name>"
/// (e.g. "optimizer.exp_avg.fc.weight"), and in __metadata__: format, format_version, step (the caller's
/// count of completed steps), optimizer_steps, lr, plus `metadata`. Atomic (temporary file + rename).
/// Optimizer: anything with for_each_state(f(name, Matrix&)), steps() and lr() (Sgd, Adam, AdamW).
template <typename Module, typename Optimizer>
void save_training_state(const std::string& path, const Module& module, Optimizer& optimizer, std::int64_t step,
                         const std::map<std::string, std::string>& metadata = {}) {
  static_assert(nn::has_parameters_v<Module>,
                "elm::io::save_training_state: Module needs for_each_parameter(prefix, f), mutable and const");
  SafetensorsWriter writer;
  for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
  writer.set_metadata("format", training_state_format);
  writer.set_metadata("format_version", "1");
  writer.set_metadata("step", std::to_string(step));
  writer.set_metadata("optimizer_steps", std::to_string(optimizer.steps()));
  writer.set_metadata("lr", elm::detail::concat(optimizer.lr()));
  module.for_each_parameter("", [&](const std::string& name, const auto& p) { writer.add(name, p.shape, p.value); });
  optimizer.for_each_state([&](const std::string& name, auto& m) {
    writer.add("optimizer." + name, detail::state_shape(m.rows(), m.cols()), m);
  });
  writer.save(path);
}

/// Restores what save_training_state wrote into `module` and `optimizer` (whose state is first created with
/// init_state(module)); returns the metadata (read the step with std::stoll(meta.at("step"))). Strict: a missing
/// or unexpected tensor, a wrong shape, or a file of another format throws FormatError / ShapeError naming the
/// tensor, and then neither the module nor the optimizer has changed.
template <typename Module, typename Optimizer>
std::map<std::string, std::string> load_training_state(const std::string& path, Module& module, Optimizer& optimizer) {
  static_assert(nn::has_parameters_v<Module>,
                "elm::io::load_training_state: Module needs for_each_parameter(prefix, f), mutable and const");
  constexpr const char* where = "elm::io::load_training_state";
  const SafetensorsReader reader(path);
  const auto& meta = reader.metadata();
  const auto format = meta.find("format");
  ELM_EXPECT(format != meta.end() && format->second == training_state_format, FormatError, where, ": ", path,
             " is not a training-state file (metadata format = '", (format == meta.end() ? "" : format->second),
             "', expected '", training_state_format, "')");
  ELM_EXPECT(meta.count("step") && meta.count("optimizer_steps"), FormatError, where, ": ", path,
             " lacks the step or optimizer_steps metadata");
  std::int64_t optimizer_steps = 0;
  try {
    optimizer_steps = std::stoll(meta.at("optimizer_steps"));
    (void)std::stoll(meta.at("step"));
  } catch (const std::exception&) {
    throw FormatError(elm::detail::concat(where, ": ", path, " has a non-numeric step or optimizer_steps"));
  }
  Optimizer staged = optimizer;  // the caller's optimizer changes only once everything has been read
  staged.set_steps(optimizer_steps);
  staged.init_state(module);
  std::set<std::string> unused;
  for (const auto& name : reader.names()) unused.insert(name);
  std::vector<std::function<void()>> assignments;
  auto stage = [&](const std::string& tensor, const std::vector<Index>& shape, auto& target) {
    ELM_EXPECT(reader.contains(tensor), FormatError, where, ": ", path, " is missing tensor '", tensor, "'");
    unused.erase(tensor);
    using M = std::decay_t<decltype(target)>;
    auto loaded = std::make_shared<M>();
    reader.read_into(tensor, shape, *loaded);
    assignments.push_back([&target, loaded] { target = std::move(*loaded); });
  };
  // 1) read and check everything, 2) assign: the strong guarantee
  module.for_each_parameter("", [&](const std::string& name, auto& p) { stage(name, p.shape, p.value); });
  staged.for_each_state([&](const std::string& name, auto& m) {
    stage("optimizer." + name, detail::state_shape(m.rows(), m.cols()), m);
  });
  ELM_EXPECT(unused.empty(), FormatError, where, ": ", path, " has tensor '",
             (unused.empty() ? std::string() : *unused.begin()), "' that the model and optimizer do not have");
  for (auto& assign : assignments) assign();
  optimizer = std::move(staged);
  return meta;
}

}  // namespace elm::io
