// SPDX-License-Identifier: MIT
// Reading a tokenizer's vocab.json (one JSON object of token -> integer id) with nlohmann-json's SAX parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/core/error.hpp"

namespace elm::text::detail {

/// The (token, id) entries of a vocab.json in file order. nlohmann-json checks the syntax, the escapes, the
/// surrogate pairs and the UTF-8 of every string; its SAX interface hands over each key and value as it reads
/// them, so a duplicate token reaches the caller (a parsed DOM would keep only its last id) and no DOM is built
/// for V entries. Throws FormatError naming `where`: with the byte offset for malformed JSON, with the token for
/// an id that is not an integer of 64 bits, and for a top level that is not an object.
inline std::vector<std::pair<std::string, std::int64_t>> read_vocab_json(std::string_view json,
                                                                          std::string_view where) {
  using Json = nlohmann::json;

  class Reader final : public nlohmann::json_sax<Json> {
   public:
    explicit Reader(std::string_view name) : where_(name) {}

    std::vector<std::pair<std::string, std::int64_t>> take_entries() { return std::move(entries_); }

    bool start_object(std::size_t) override {
      if (++depth_ > 1) not_an_integer("an object");
      return true;
    }
    bool end_object() override {
      --depth_;
      return true;
    }
    bool key(string_t& token) override {
      key_ = token;
      return true;
    }
    bool number_integer(number_integer_t id) override { return add(id); }
    bool number_unsigned(number_unsigned_t id) override {
      if (id > static_cast<number_unsigned_t>(INT64_MAX)) bad_id(std::to_string(id), " that fits in 64 bits");
      return add(static_cast<std::int64_t>(id));
    }
    bool number_float(number_float_t, const string_t& spelling) override {
      if (depth_ == 0) not_an_object("a number");
      // nlohmann reads an integer too large for 64 bits as a float; the spelling tells the two apart.
      bad_id(spelling, spelling.find_first_of(".eE") != string_t::npos ? ", not a fraction" : " that fits in 64 bits");
    }
    bool null() override { not_an_integer("null"); }
    bool boolean(bool) override { not_an_integer("a boolean"); }
    bool string(string_t&) override { not_an_integer("a string"); }
    bool binary(binary_t&) override { not_an_integer("binary data"); }
    bool start_array(std::size_t) override { not_an_integer("an array"); }
    bool end_array() override { return true; }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
      // nlohmann counts the bytes read, the offending one included: its offset is one less (the end of the text
      // counts as one byte past the last).
      throw FormatError(elm::detail::concat(where_, ": malformed JSON at byte offset ", position > 0 ? position - 1 : 0,
                                            ": ", e.what()));
    }

   private:
    bool add(std::int64_t id) {
      if (depth_ == 0) not_an_object("a number");
      entries_.emplace_back(key_, id);
      return true;
    }
    [[noreturn]] void not_an_object(std::string_view got) const {
      throw FormatError(elm::detail::concat(where_, ": the JSON holds ", got, ", expected an object of token -> id"));
    }
    [[noreturn]] void not_an_integer(std::string_view got) const {
      if (depth_ == 0) not_an_object(got);
      throw FormatError(
          elm::detail::concat(where_, ": token '", key_, "' has ", got, " as its id, expected an integer"));
    }
    [[noreturn]] void bad_id(std::string_view spelling, std::string_view expected) const {
      if (depth_ == 0) not_an_object("a number");
      throw FormatError(elm::detail::concat(where_, ": token '", key_, "' has id ", spelling,
                                            ", expected an integer", expected));
    }

    std::vector<std::pair<std::string, std::int64_t>> entries_;
    std::string_view where_;
    std::string key_;  // the token whose id comes next
    int depth_ = 0;
  };

  Reader reader(where);
  Json::sax_parse(json.begin(), json.end(), &reader);
  return reader.take_entries();
}

}  // namespace elm::text::detail
