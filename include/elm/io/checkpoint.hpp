// SPDX-License-Identifier: MIT
// Saving and loading every parameter of a module (anything with for_each_parameter) as safetensors.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/io/safetensors.hpp"

namespace elm::io {

/// Writes each parameter's value under its dotted name, with `metadata` in __metadata__, atomically.
/// Parameters of a float module are stored as F32, of a double module as F64. Reads the parameters only,
/// through the module's const for_each_parameter.
template <typename Module>
void save_parameters(const std::string& path, const Module& module,
                     const std::map<std::string, std::string>& metadata = {}) {
  SafetensorsWriter writer;
  for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
  module.for_each_parameter("", [&](const std::string& name, const auto& p) { writer.add(name, p.shape, p.value); });
  writer.save(path);
}

/// Loads every parameter of `module` from a safetensors file. Strict: a tensor the module lacks, a parameter
/// the file lacks, or a shape that differs throws (FormatError, ShapeError) naming the tensor, and the module is
/// left unchanged (everything is read before anything is assigned). Returns the file's metadata.
template <typename Module>
std::map<std::string, std::string> load_parameters(const std::string& path, Module& module) {
  const SafetensorsReader reader(path);
  std::set<std::string> unused;
  for (const auto& name : reader.names()) unused.insert(name);
  std::vector<std::string> names;
  module.for_each_parameter("", [&](const std::string& name, auto& p) {
    ELM_EXPECT(reader.contains(name), FormatError, "elm::io::load_parameters: ", path, " is missing tensor '", name,
               "' (shape ", detail::shape_text(p.shape), ")");
    names.push_back(name);
    unused.erase(name);
  });
  ELM_EXPECT(unused.empty(), FormatError, "elm::io::load_parameters: ", path, " has tensor '",
             (unused.empty() ? std::string() : *unused.begin()), "' that the model does not have (", unused.size(),
             " unexpected tensor(s) in all)");
  // 1) read and check everything into temporaries, 2) assign: the strong guarantee.
  std::vector<std::function<void()>> assignments;
  module.for_each_parameter("", [&](const std::string& name, auto& p) {
    using Matrix = std::decay_t<decltype(p.value)>;
    auto loaded = std::make_shared<Matrix>();
    reader.read_into(name, p.shape, *loaded);
    assignments.push_back([&p, loaded] { p.value = std::move(*loaded); });
  });
  for (auto& assign : assignments) assign();
  return reader.metadata();
}

}  // namespace elm::io
