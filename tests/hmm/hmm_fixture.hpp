// SPDX-License-Identifier: MIT
// Loads the hmmlearn reference cases of tests/data/hmm/categorical_hmm.json (made by tools/make_hmm_fixtures.py).
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/classic/hmm.hpp"

namespace elm_test {

inline nlohmann::json load_hmm_fixture() {
  const std::string path = std::string(ELM_TEST_DATA_DIR) + "/hmm/categorical_hmm.json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

inline elm::Vector<double> vector_of(const nlohmann::json& j) {
  elm::Vector<double> v(static_cast<elm::Index>(j.size()));
  for (std::size_t i = 0; i < j.size(); ++i) v(static_cast<elm::Index>(i)) = j[i].get<double>();
  return v;
}

inline elm::Matrix<double> matrix_of(const nlohmann::json& j) {
  elm::Matrix<double> m(static_cast<elm::Index>(j.size()), static_cast<elm::Index>(j[0].size()));
  for (std::size_t i = 0; i < j.size(); ++i)
    for (std::size_t k = 0; k < j[i].size(); ++k)
      m(static_cast<elm::Index>(i), static_cast<elm::Index>(k)) = j[i][k].get<double>();
  return m;
}

inline elm::classic::Hmm<double> model_of(const nlohmann::json& tables) {
  return elm::classic::Hmm<double>(vector_of(tables["startprob"]), matrix_of(tables["transmat"]),
                                   matrix_of(tables["emissionprob"]));
}

inline std::vector<elm::classic::Sequence> sequences_of(const nlohmann::json& c) {
  std::vector<elm::classic::Sequence> out;
  for (const auto& s : c["sequences"]) out.push_back(s.get<elm::classic::Sequence>());
  return out;
}

/// max |a - b| / max(|b|, tiny) over all entries, with the index where it occurs.
struct RelError {
  double value = 0;
  elm::Index row = 0, col = 0;
};
inline RelError max_rel_error(const elm::Matrix<double>& a, const elm::Matrix<double>& b, double floor = 1e-300) {
  RelError e;
  for (elm::Index j = 0; j < a.cols(); ++j)
    for (elm::Index i = 0; i < a.rows(); ++i) {
      const double d = std::abs(a(i, j) - b(i, j)) / std::max(std::abs(b(i, j)), floor);
      if (d > e.value) e = {d, i, j};
    }
  return e;
}

}  // namespace elm_test
