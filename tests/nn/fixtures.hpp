// SPDX-License-Identifier: MIT
// Reads the PyTorch parity fixtures written by tools/make_nn_fixtures.py, and compares tensors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "elm/core/types.hpp"

namespace elm_test {

/// A fixture tensor: PyTorch shape and row-major values.
struct FixtureTensor {
  std::vector<elm::Index> shape;
  std::vector<double> values;

  /// As an Eigen matrix with rows = last dimension (the library's layout, as elm::nn::Parameter stores it).
  template <typename Scalar>
  elm::Matrix<Scalar> matrix() const {
    const elm::Index rows = shape.empty() ? 1 : shape.back();
    const elm::Index cols = rows == 0 ? 0 : elm::Index(values.size()) / rows;
    elm::Matrix<Scalar> m(rows, cols);
    for (elm::Index i = 0; i < elm::Index(values.size()); ++i) m(i) = static_cast<Scalar>(values[std::size_t(i)]);
    return m;
  }
  std::vector<elm::Index> ids() const { return std::vector<elm::Index>(values.begin(), values.end()); }
  double scalar() const { return values.at(0); }
};

/// All the tensors of one fixture file of tests/data/nn/.
class Fixture {
 public:
  explicit Fixture(const std::string& name) {
    const std::string path = std::string(ELM_TEST_DATA_DIR) + "/nn/" + name;
    std::ifstream in(path);
    REQUIRE(in.good());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream head(line);
      std::string tensor_name;
      int ndim = 0;
      head >> tensor_name >> ndim;
      FixtureTensor t;
      elm::Index count = 1;
      for (int d = 0; d < ndim; ++d) {
        elm::Index n = 0;
        head >> n;
        t.shape.push_back(n);
        count *= n;
      }
      std::getline(in, line);
      std::istringstream body(line);
      t.values.reserve(std::size_t(count));
      double v = 0;
      while (body >> v) t.values.push_back(v);
      REQUIRE(elm::Index(t.values.size()) == count);
      tensors_.emplace(tensor_name, std::move(t));
    }
  }
  const FixtureTensor& operator[](const std::string& name) const {
    const auto it = tensors_.find(name);
    INFO("fixture tensor " << name);
    REQUIRE(it != tensors_.end());
    return it->second;
  }
  template <typename Scalar = float>
  elm::Matrix<Scalar> matrix(const std::string& name) const {
    return (*this)[name].template matrix<Scalar>();
  }

 private:
  std::map<std::string, FixtureTensor> tensors_;
};

/// max |ours - ref| / max |ref|: the normwise relative error used for parity (printed with where it peaks).
template <typename A, typename B>
double parity_error(const std::string& what, const A& ours, const B& ref) {
  REQUIRE(ours.rows() == ref.rows());
  REQUIRE(ours.cols() == ref.cols());
  double worst = 0.0, scale = 0.0;
  elm::Index at_i = 0, at_j = 0;
  for (elm::Index j = 0; j < ref.cols(); ++j)
    for (elm::Index i = 0; i < ref.rows(); ++i) {
      const double d = std::abs(double(ours(i, j)) - double(ref(i, j)));
      if (d > worst) {
        worst = d;
        at_i = i;
        at_j = j;
      }
      scale = std::max(scale, std::abs(double(ref(i, j))));
    }
  const double rel = worst / std::max(scale, 1e-30);
  // Shown when a check fails; every value is printed with ELM_PARITY_REPORT=1 in the environment.
  UNSCOPED_INFO(what << ": max abs diff " << worst << " at (" << at_i << ", " << at_j << "), relative " << rel);
  if (std::getenv("ELM_PARITY_REPORT") != nullptr)
    WARN(what << ": max abs diff " << worst << " at (" << at_i << ", " << at_j << "), relative " << rel);
  return rel;
}

}  // namespace elm_test
