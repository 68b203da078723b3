// SPDX-License-Identifier: MIT
// The check every saved model's config_from shares: the model saved with one metadata entry changed (or removed)
// at a time, each file refused with a FormatError whose message names the reader and the problem.
#pragma once

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/safetensors.hpp"
#include "error_message.hpp"

namespace elm_test {

/// One entry of a model's metadata changed, and what the refusal must say.
struct MetadataCase {
  const char* key;
  const char* value;    ///< null: the key removed
  const char* message;  ///< a part of the FormatError's message
};

/// For each case: `model` saved to `path` with its metadata() but for that entry; Model::config_from must throw a
/// FormatError containing `where` and the case's message. The file is left behind (the caller's to remove).
template <typename Model>
void check_metadata_refusals(const Model& model, const std::string& path, const char* where,
                             const std::vector<MetadataCase>& cases) {
  for (const auto& c : cases) {
    auto meta = model.metadata();
    if (c.value != nullptr)
      meta[c.key] = c.value;
    else
      meta.erase(c.key);
    INFO(c.key << " = " << (c.value != nullptr ? c.value : "(none)"));
    elm::io::save_parameters(path, model, meta);
    CHECK_THAT(error_message<elm::FormatError>([&] { Model::config_from(elm::io::SafetensorsReader(path)); }),
               Catch::Matchers::Contains(where) && Catch::Matchers::Contains(c.message));
  }
}

}  // namespace elm_test
