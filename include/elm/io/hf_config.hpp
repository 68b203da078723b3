// SPDX-License-Identifier: MIT
// Reading Hugging Face config.json files: typed look-ups that name the file and the key when they fail.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "elm/core/error.hpp"
#include "elm/io/mapped_file.hpp"

namespace elm::io {

/// A parsed config.json. Look-ups check presence and type and throw FormatError with the file and key.
class HfConfig {
 public:
  /// Parses JSON text; `source` names it in error messages (a path, or "<string>").
  static HfConfig parse(std::string_view text, std::string source = "<string>") {
    HfConfig config;
    config.source_ = std::move(source);
    try {
      config.json_ = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw FormatError(elm::detail::concat("elm::io::HfConfig: ", config.source_, " is not valid JSON: ", e.what()));
    }
    ELM_EXPECT(config.json_.is_object(), FormatError, "elm::io::HfConfig: ", config.source_,
               " holds a JSON ", config.json_.type_name(), ", expected an object");
    return config;
  }

  /// Reads and parses a file; IoError when it cannot be read.
  static HfConfig load(const std::string& path) {
    const MappedFile file(path, "elm::io::HfConfig::load");
    return parse(file.text(), path);
  }

  bool contains(std::string_view key) const { return json_.contains(std::string(key)); }

  /// The value of `key` as T (an integer, floating-point, bool or string type). Throws FormatError when the
  /// key is missing or its JSON type does not fit T (a float where an integer is expected, a negative size...).
  template <typename T>
  T get(std::string_view key) const {
    const auto it = json_.find(std::string(key));
    ELM_EXPECT(it != json_.end(), FormatError, "elm::io::HfConfig: ", source_, " has no key '", key, "'");
    return convert<T>(*it, key);
  }

  /// The value of `key` as T, or `fallback` when the key is absent (a present key of the wrong type still throws).
  template <typename T>
  T get_or(std::string_view key, T fallback) const {
    const auto it = json_.find(std::string(key));
    if (it == json_.end() || it->is_null()) return fallback;
    return convert<T>(*it, key);
  }

  const nlohmann::json& json() const { return json_; }
  const std::string& source() const { return source_; }

 private:
  template <typename T>
  T convert(const nlohmann::json& v, std::string_view key) const {
    const auto fail = [&](const char* expected) {
      return FormatError(elm::detail::concat("elm::io::HfConfig: ", source_, ": key '", key, "' is ", v.dump(),
                                             ", expected ", expected));
    };
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) throw fail("a boolean");
      return v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) throw fail("an integer");
      if constexpr (std::is_unsigned_v<T>) {
        if (!v.is_number_unsigned()) throw fail("a non-negative integer");
      }
      return v.get<T>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) throw fail("a number");
      return v.get<T>();
    } else {
      static_assert(std::is_same_v<T, std::string>, "HfConfig::get supports bool, integers, floats and std::string");
      if (!v.is_string()) throw fail("a string");
      return v.get<std::string>();
    }
  }

  std::string source_;
  nlohmann::json json_;
};

}  // namespace elm::io
