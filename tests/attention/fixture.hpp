// SPDX-License-Identifier: MIT
// Loading the PyTorch fixtures of tools/make_attention_fixtures.py and comparing tensors with them.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/parameter.hpp"

namespace attention_test {

using elm::Index;
using elm::Matrix;

struct Tensor {
  std::vector<Index> shape;
  std::vector<double> data;  // NaN where the fixture has null, +-inf where it has "inf" / "-inf"
};

struct Fixture {
  nlohmann::json meta;
  std::map<std::string, Tensor> tensors;

  bool has(const std::string& name) const { return tensors.count(name) != 0; }

  /// The tensor as an elm matrix: rows = last dimension, columns = product of the others.
  template <typename Scalar>
  Matrix<Scalar> matrix(const std::string& name) const {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw elm::FormatError("fixture has no tensor " + name);
    const Tensor& t = it->second;
    Index rows = t.shape.empty() ? 1 : t.shape.back();
    Index cols = 1;
    for (std::size_t d = 0; d + 1 < t.shape.size(); ++d) cols *= t.shape[d];
    Matrix<Scalar> m(rows, cols);
    for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(t.data[static_cast<std::size_t>(i)]);
    return m;
  }

  /// A boolean tensor (written as 0 / 1) as an elm matrix, shaped as matrix() shapes it.
  Matrix<bool> bool_matrix(const std::string& name) const { return (matrix<double>(name).array() != 0.0).matrix(); }

  Index dim(const char* key) const { return meta.at(key).get<Index>(); }
  std::vector<Index> lengths() const { return meta.at("lengths").get<std::vector<Index>>(); }
};

inline Fixture load_fixture(const std::string& name, const std::string& folder = "attention") {
  const std::string path = std::string(ELM_TEST_DATA_DIR) + "/" + folder + "/" + name + ".json";
  std::ifstream in(path);
  if (!in) throw elm::IoError("cannot open " + path);
  nlohmann::json doc = nlohmann::json::parse(in);
  Fixture f;
  f.meta = doc.at("meta");
  for (auto& [key, value] : doc.at("tensors").items()) {
    Tensor t;
    t.shape = value.at("shape").get<std::vector<Index>>();
    constexpr double inf = std::numeric_limits<double>::infinity();
    for (const auto& v : value.at("data")) {
      if (v.is_null())
        t.data.push_back(std::numeric_limits<double>::quiet_NaN());
      else if (v.is_string() && (v.get<std::string>() == "-inf" || v.get<std::string>() == "inf"))
        t.data.push_back(v.get<std::string>() == "-inf" ? -inf : inf);
      else if (v.is_string())
        throw elm::FormatError(path + ": unexpected value " + v.get<std::string>() + " in tensor " + key);
      else
        t.data.push_back(v.get<double>());
    }
    f.tensors.emplace(key, std::move(t));
  }
  return f;
}

/// max |got - want| / max(max |want|, tiny); NaN must match NaN. Prints the worst entry.
template <typename Scalar>
double relative_error(const std::string& what, const Matrix<Scalar>& got, const Matrix<double>& want) {
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  double worst = 0.0, scale = 1e-30;
  Index worst_i = 0;
  for (Index i = 0; i < want.size(); ++i) {
    const double w = want.data()[i], g = double(got.data()[i]);
    if (std::isnan(w) || std::isnan(g)) {
      INFO(what << ": NaN mismatch at flat index " << i << " (got " << g << ", want " << w << ")");
      REQUIRE(std::isnan(w) == std::isnan(g));
      continue;
    }
    scale = std::max(scale, std::abs(w));
    if (std::abs(g - w) > worst) {
      worst = std::abs(g - w);
      worst_i = i;
    }
  }
  UNSCOPED_INFO(what << ": max abs diff " << worst << " at flat index " << worst_i << ", max |ref| " << scale);
  return worst / scale;
}

/// Tolerance of float results against the float64 reference: the 1e-5 relative (to the tensor's
/// largest entry); double results must agree to 1e-12 (a few hundred ulps over these short sums).
template <typename Scalar>
constexpr double parity_tolerance() {
  return std::is_same_v<Scalar, float> ? 1e-5 : 1e-12;
}

/// Loads every parameter a module visits from the fixture tensor of the same name (shapes must match).
template <typename Scalar, typename Module>
void load_parameters(Module& module, const Fixture& f, const std::string& prefix = "") {
  module.for_each_parameter(prefix, [&](const std::string& name, elm::nn::Parameter<Scalar>& p) {
    INFO("parameter " << name);
    REQUIRE(f.has(name));
    Matrix<Scalar> m = f.matrix<Scalar>(name);
    REQUIRE(m.rows() == p.value.rows());
    REQUIRE(m.cols() == p.value.cols());
    p.value = m;
  });
}

/// The values (or, with gradients = true, the gradients) of every parameter a module visits, by name.
template <typename Scalar, typename Module>
std::map<std::string, Matrix<double>> parameter_values(const Module& module, bool gradients = false) {
  std::map<std::string, Matrix<double>> values;
  module.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<Scalar>& p) {
    values[name] = (gradients ? p.grad : p.value).template cast<double>();
  });
  return values;
}

/// Checks every parameter gradient against the fixture's grad.<name>.
template <typename Scalar, typename Module>
void check_parameter_grads(Module& module, const Fixture& f, double tol) {
  int seen = 0;
  module.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<Scalar>& p) {
    ++seen;
    REQUIRE(f.has("grad." + name));
    CHECK(relative_error<Scalar>("grad." + name, p.grad, f.matrix<double>("grad." + name)) < tol);
  });
  CHECK(seen > 0);
}

/// Central-difference check of d(sum(g o f(x)))/dx in double, with h = 1e-6, against an analytic gradient.
/// Passes when |a - n| / max(|a|, |n|, 1e-8) < tol at every entry (STYLE.md section 8.3 uses 1e-6).
inline void check_gradient(const std::string& what, Matrix<double>& x, const std::function<double()>& loss,
                           const Matrix<double>& analytic, double tol = 1e-6) {
  REQUIRE(analytic.rows() == x.rows());
  REQUIRE(analytic.cols() == x.cols());
  const double h = 1e-6;
  double worst = 0.0;
  Index worst_i = 0;
  for (Index i = 0; i < x.size(); ++i) {
    const double saved = x.data()[i];
    x.data()[i] = saved + h;
    const double up = loss();
    x.data()[i] = saved - h;
    const double down = loss();
    x.data()[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double a = analytic.data()[i];
    const double err = std::abs(a - numeric) / std::max({std::abs(a), std::abs(numeric), 1e-8});
    // Entries whose gradient is below the finite-difference noise floor (~1e-10 / h) compare absolutely.
    const double abs_err = std::abs(a - numeric);
    const double e = abs_err < 1e-8 ? 0.0 : err;
    if (e > worst) {
      worst = e;
      worst_i = i;
    }
  }
  INFO(what << ": worst relative gradient error " << worst << " at flat index " << worst_i);
  CHECK(worst < tol);
}

inline Matrix<double> random_matrix(elm::Rng& rng, Index rows, Index cols, double scale = 1.0) {
  Matrix<double> m(rows, cols);
  rng.fill_normal(m, 0.0, scale);
  return m;
}

}  // namespace attention_test
