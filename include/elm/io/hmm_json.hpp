// SPDX-License-Identifier: MIT
// Categorical HMMs as hmmlearn-style JSON: {"startprob": [...], "transmat": [[...]], "emissionprob": [[...]]}.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/classic/hmm.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/hf_config.hpp"
#include "elm/io/mapped_file.hpp"

namespace elm::io {

namespace detail {

inline std::vector<double> hmm_json_numbers(const nlohmann::json& j, std::string_view source, std::string_view what) {
  ELM_EXPECT(j.is_array(), FormatError, "elm::io::load_hmm_json: ", source, ": \"", what,
             "\" is not an array of numbers");
  std::vector<double> out;
  out.reserve(j.size());
  for (const auto& x : j) {
    ELM_EXPECT(x.is_number(), FormatError, "elm::io::load_hmm_json: ", source, ": \"", what, "\" holds ",
               detail::json_text(x), ", expected a number");
    out.push_back(x.get<double>());
  }
  return out;
}

inline Matrix<double> hmm_json_matrix(const nlohmann::json& j, std::string_view source, std::string_view what) {
  ELM_EXPECT(j.is_array() && !j.empty(), FormatError, "elm::io::load_hmm_json: ", source, ": \"", what,
             "\" is not a non-empty array of rows");
  const auto first = hmm_json_numbers(j[0], source, what);
  Matrix<double> m(static_cast<Index>(j.size()), static_cast<Index>(first.size()));
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto row = hmm_json_numbers(j[i], source, what);
    ELM_EXPECT(row.size() == first.size(), ShapeError, "elm::io::load_hmm_json: ", source, ": \"", what, "\" row ", i,
               " has ", row.size(), " entries, expected ", first.size(), " like row 0");
    for (std::size_t k = 0; k < row.size(); ++k) m(static_cast<Index>(i), static_cast<Index>(k)) = row[k];
  }
  return m;
}

}  // namespace detail

/// Builds an HMM from hmmlearn's attribute names as JSON text; `source` names it in messages. Throws FormatError
/// for text that is not JSON (numbers beyond double's range such as 1e400 included) or lacks a table, ShapeError
/// for ragged or mismatched tables, and the Hmm constructor's InvalidArgument for rows that are not
/// distributions.
inline classic::Hmm<double> parse_hmm_json(std::string_view text, std::string_view source = "<string>") {
  const nlohmann::json j = detail::parse_json_text(text, source, "elm::io::load_hmm_json");
  ELM_EXPECT(j.is_object(), FormatError, "elm::io::load_hmm_json: ", source, ": holds a JSON ", j.type_name(),
             ", expected an object");
  for (const char* key : {"startprob", "transmat", "emissionprob"})
    ELM_EXPECT(j.contains(key), FormatError, "elm::io::load_hmm_json: ", source, ": missing \"", key, "\"");
  const auto start = detail::hmm_json_numbers(j.at("startprob"), source, "startprob");
  Vector<double> pi(static_cast<Index>(start.size()));
  for (std::size_t i = 0; i < start.size(); ++i) pi(static_cast<Index>(i)) = start[i];
  return classic::Hmm<double>(pi, detail::hmm_json_matrix(j.at("transmat"), source, "transmat"),
                              detail::hmm_json_matrix(j.at("emissionprob"), source, "emissionprob"));
}

/// Reads the HMM JSON file at `path`; IoError when it cannot be read, else as parse_hmm_json.
inline classic::Hmm<double> load_hmm_json(const std::string& path) {
  const MappedFile file(path, "elm::io::load_hmm_json");
  return parse_hmm_json(file.text(), path);
}

}  // namespace elm::io
