// SPDX-License-Identifier: MIT
// Shared fixtures of the n-gram tests: the KenLM reference split and lmplz's estimates, loaded once.
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_counts.hpp"
#include "elm/io/arpa.hpp"

namespace ngram_test {

inline std::string data_path(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/ngram/" + name; }

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

inline const std::vector<std::string>& train_lines() {
  static const std::vector<std::string> lines = read_lines(data_path("train.txt"));
  return lines;
}
inline const std::vector<std::string>& test_lines() {
  static const std::vector<std::string> lines = read_lines(data_path("test.txt"));
  return lines;
}

/// Counts and lmplz-style estimate of train.txt at order n (3 or 5), computed once per process.
struct Estimate {
  elm::classic::NgramCounts counts;
  elm::classic::NgramTables tables;
  std::vector<elm::classic::KneserNeyDiscount> discounts;
  explicit Estimate(int n) : counts(n) {
    counts.add_lines(train_lines());
    tables = elm::classic::estimate_kneser_ney(counts, {}, &discounts);
  }
};
inline const Estimate& estimate(int n) {
  static std::map<int, Estimate> cache;
  auto it = cache.find(n);
  if (it == cache.end()) it = cache.emplace(n, Estimate(n)).first;
  return it->second;
}

/// The order-3 estimate written as ARPA text and read back (once per process: slow under sanitizers).
inline const elm::classic::NgramTables& arpa_round_trip_o3() {
  static const elm::classic::NgramTables t = [] {
    std::stringstream arpa;
    elm::io::write_arpa(estimate(3).tables, arpa);
    return elm::io::read_arpa(arpa, "estimate.o3.arpa");
  }();
  return t;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

/// Runs f, requires an exception of type E whose message contains every part.
template <typename E, typename F>
void require_throws(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const E& e) {
    for (const std::string& p : parts) CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(p));
    return;
  } catch (const std::exception& e) {
    FAIL("wrong exception type: " << e.what());
  }
  FAIL("no exception thrown");
}

}  // namespace ngram_test
