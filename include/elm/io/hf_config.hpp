// SPDX-License-Identifier: MIT
// Reading Hugging Face config.json files: typed look-ups that name the file and the key when they fail.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/core/error.hpp"
#include "elm/io/mapped_file.hpp"

namespace elm::io {

namespace detail {

/// Parses JSON text, turning every nlohmann exception (a syntax error, a number out of double's range such as
/// 1e400, invalid UTF-8, nesting too deep for the stack) into a FormatError that names `where` and `source`.
inline nlohmann::json parse_json_text(std::string_view text, std::string_view source, std::string_view where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(elm::detail::concat(where, ": ", source, " is not valid JSON: ", e.what()));
  }
}

/// Whether `v` nests arrays or objects more than `limit` levels deep (walked without recursion).
inline bool json_deeper_than(const nlohmann::json& v, int limit) {
  std::vector<std::pair<const nlohmann::json*, int>> todo{{&v, 0}};
  while (!todo.empty()) {
    const auto [j, depth] = todo.back();
    todo.pop_back();
    if (!j->is_structured()) continue;
    if (depth >= limit) return true;
    for (const auto& child : *j) todo.emplace_back(&child, depth + 1);
  }
  return false;
}

/// A JSON value as an error message shows it: its text, cut after 200 characters, or a description when it nests
/// too deeply for dump(), which recurses once per level (a file of 10^5 '[' would overflow the stack).
inline std::string json_text(const nlohmann::json& v) {
  constexpr int max_depth = 32;
  if (json_deeper_than(v, max_depth))
    return elm::detail::concat("a JSON ", v.type_name(), " nested more than ", max_depth, " levels deep");
  std::string text = v.dump();
  if (text.size() > 200) text = text.substr(0, 200) + "...";
  return text;
}

}  // namespace detail

/// A parsed config.json. Look-ups check presence and type and throw FormatError with the file and key.
class HfConfig {
 public:
  /// Parses JSON text; `source` names it in error messages (a path, or "<string>").
  static HfConfig parse(std::string_view text, std::string source = "<string>") {
    HfConfig config;
    config.source_ = std::move(source);
    config.json_ = detail::parse_json_text(text, config.source_, "elm::io::HfConfig");
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
    const auto fail = [&](std::string_view expected) {
      return FormatError(elm::detail::concat("elm::io::HfConfig: ", source_, ": key '", key, "' is ", detail::json_text(v),
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
      // get<T> would wrap a value outside T's range (2^63 read as a negative Index): check it first
      const bool fits = v.is_number_unsigned()
                            ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                            : v.get<std::int64_t>() >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
                                  (sizeof(T) >= sizeof(std::int64_t) ||
                                   v.get<std::int64_t>() <= static_cast<std::int64_t>(std::numeric_limits<T>::max()));
      if (!fits)
        throw fail(elm::detail::concat("an integer from ", +std::numeric_limits<T>::min(), " to ",
                                       +std::numeric_limits<T>::max()));
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
