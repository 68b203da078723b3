// SPDX-License-Identifier: MIT
// Reading a model's configuration back from the metadata of its safetensors file (what each model's metadata()
// wrote): the architecture checked, integers parsed, tensor shapes compared with the sizes read.
#pragma once

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/safetensors.hpp"

namespace elm::models::detail {

/// The metadata of an open file that claims to hold `architecture`, read for a model's config_from (`where`).
/// Every refusal is a FormatError naming the file.
class ConfigMetadata {
 public:
  /// Throws FormatError when the file's "architecture" is missing or another.
  ConfigMetadata(const io::SafetensorsReader& reader, const char* where, const char* architecture)
      : reader_(reader), where_(where) {
    const auto& meta = reader.metadata();
    const auto arch = meta.find("architecture");
    ELM_EXPECT(arch != meta.end() && arch->second == architecture, FormatError, where, ": ", reader.path(),
               " holds architecture '", (arch == meta.end() ? std::string("(none)") : arch->second), "', expected '",
               architecture, "'");
  }

  /// The text under `key`. Throws FormatError when it is missing.
  const std::string& text(const char* key) const {
    const auto& meta = reader_.metadata();
    const auto it = meta.find(key);
    ELM_EXPECT(it != meta.end(), FormatError, where_, ": ", reader_.path(), " lacks the '", key, "' metadata");
    return it->second;
  }

  /// The decimal integer under `key`, at least `least` (1: "a positive integer", 0: "a non-negative integer") and
  /// at most `most`. Throws FormatError when it is missing, not an integer, or out of range.
  long long integer(const char* key, long long least = 1,
                    long long most = std::numeric_limits<long long>::max()) const {
    const std::string& value = text(key);
    char* end = nullptr;
    const long long n = std::strtoll(value.c_str(), &end, 10);
    ELM_EXPECT(!value.empty() && *end == '\0' && n >= least, FormatError, where_, ": ", reader_.path(), " has ", key,
               " = '", value, "', expected a ", least == 1 ? "positive" : least == 0 ? "non-negative" : "larger",
               " integer");
    ELM_EXPECT(n <= most, FormatError, where_, ": ", reader_.path(), " has ", key, " = ", n, ", expected at most ",
               most);
    return n;
  }

  /// The decimal number under `key`, finite and within [least, most]. Throws FormatError when it is missing, not a
  /// number, or out of range.
  double real(const char* key, double least, double most) const {
    const std::string& value = text(key);
    char* end = nullptr;
    const double x = std::strtod(value.c_str(), &end);
    ELM_EXPECT(!value.empty() && *end == '\0' && std::isfinite(x) && x >= least && x <= most, FormatError, where_,
               ": ", reader_.path(), " has ", key, " = '", value, "', expected a number in [", least, ", ", most,
               "]");
    return x;
  }

  /// "true" or "false" under `key`. Throws FormatError otherwise.
  bool flag(const char* key) const {
    const std::string& value = text(key);
    ELM_EXPECT(value == "true" || value == "false", FormatError, where_, ": ", reader_.path(), " has ", key, " = '",
               value, "', expected true or false");
    return value == "true";
  }

  /// Throws FormatError when the file lacks tensor `name` or its shape is not `shape` (the one the sizes read give).
  void expect_shape(const std::string& name, const std::vector<Index>& shape) const {
    ELM_EXPECT(reader_.contains(name), FormatError, where_, ": ", reader_.path(), " is missing tensor '", name, "'");
    const auto& got = reader_.info(name).shape;
    ELM_EXPECT(got == shape, FormatError, where_, ": tensor '", name, "' in ", reader_.path(), " has shape ",
               io::detail::shape_text(got), ", expected ", io::detail::shape_text(shape),
               " from the metadata's sizes");
  }

 private:
  const io::SafetensorsReader& reader_;
  const char* where_;
};

}  // namespace elm::models::detail
