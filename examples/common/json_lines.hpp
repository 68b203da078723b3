// SPDX-License-Identifier: MIT
// JSON-lines output of the example programs (elm-gpt, elm-bert): one JSON object a line, written value by value.
// Strings go through nlohmann::json (escaped, invalid UTF-8 replaced); numbers through fmt, because
// nlohmann::json keeps every number as a double: a float would be widened first and printed with a double's
// digits (0.1f as 0.10000000149011612), where fmt prints the shortest text that reads back as the same float.
#pragma once

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace elm::examples {

/// A JSON string of text whose bytes may not be valid UTF-8 (tokens can split a character): those bytes become
/// U+FFFD, as Hugging Face's decode(errors="replace") gives them.
inline std::string json_string(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// A JSON number: an integer as it is; a floating-point value in the shortest form that reads back as the same
/// value of its own type (float or double); a value with no JSON form (NaN, an infinity) as null.
template <typename T>
std::string json_number(T x) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, "json_number takes a number");
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(x)) return "null";
  }
  return fmt::format("{}", x);
}

/// A JSON array of the items, each written by to_json (a function from an item to its JSON text): "[a, b, c]".
template <typename Range, typename ToJson>
std::string json_array(const Range& items, ToJson&& to_json) {
  std::string out = "[";
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ", ";
    first = false;
    out += to_json(item);
  }
  return out + "]";
}

/// A JSON array of numbers (json_number each).
template <typename Range>
std::string json_numbers(const Range& items) {
  return json_array(items, [](const auto& x) { return json_number(x); });
}

/// A JSON object written key by key in the order given: JsonObject().add("id", json_number(3)).str() is
/// {"id": 3}. Values are JSON text already (json_string, json_number, json_array, another object's str()).
class JsonObject {
 public:
  JsonObject& add(std::string_view key, const std::string& json_value) {
    text_ += text_.size() > 1 ? ", " : "";
    text_ += json_string(std::string(key));
    text_ += ": ";
    text_ += json_value;
    return *this;
  }
  std::string str() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
};

/// Writes one line of JSON-lines output: the JSON text and a newline, to standard output.
inline void print_json_line(const std::string& json) {
  std::fwrite(json.data(), 1, json.size(), stdout);
  std::fputc('\n', stdout);
}

}  // namespace elm::examples
