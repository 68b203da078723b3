// SPDX-License-Identifier: MIT
// What the trainer's tests and the models' training tests share: periodic token streams, a source of fixed
// batches, a model's parameter values, a way to stop a run as a crash would.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "elm/core/types.hpp"
#include "elm/train/token_windows.hpp"

namespace elm_test {

/// "offset, offset + 1, ..., offset + period - 1, offset, ..." of n tokens.
inline std::vector<elm::Index> cycle_stream(elm::Index n, elm::Index period, elm::Index offset = 0) {
  std::vector<elm::Index> s;
  for (elm::Index i = 0; i < n; ++i) s.push_back(offset + i % period);
  return s;
}

/// Every parameter's value, in visiting order.
template <typename Module>
std::vector<elm::Matrix<typename Module::scalar_type>> values_of(const Module& m) {
  std::vector<elm::Matrix<typename Module::scalar_type>> out;
  m.for_each_parameter("", [&](const std::string&, const auto& p) { out.push_back(p.value); });
  return out;
}

/// A trainer's data source that hands out fixed batches in turn.
struct ListSource {
  using batch_type = elm::train::TokenBatch;
  std::vector<elm::train::TokenBatch> batches;
  std::uint64_t at = 0;
  elm::train::TokenBatch next() { return batches[at++ % batches.size()]; }
  std::uint64_t position() const { return at; }
  void seek(std::uint64_t p) { at = p; }
};

/// Thrown from a progress callback to stop a run as a crash would.
struct Stop : std::runtime_error {
  Stop() : std::runtime_error("stopped") {}
};

}  // namespace elm_test
