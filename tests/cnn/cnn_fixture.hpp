// SPDX-License-Identifier: MIT
// The cnn tests' helpers: the fixtures of tools/make_conv_fixtures.py (the attention tests' JSON format) and
// the central-difference checks, shared with tests/attention.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "../attention/fixture.hpp"
#include "../common/error_message.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/parameter.hpp"

namespace cnn_test {

using attention_test::check_gradient;
using attention_test::check_parameter_grads;
using attention_test::Fixture;
using attention_test::load_parameters;
using attention_test::parity_tolerance;
using attention_test::random_matrix;
using attention_test::relative_error;
using elm::Index;
using elm::Matrix;
using elm_test::error_message;

inline Fixture load(const std::string& name) { return attention_test::load_fixture(name, "conv"); }

/// A meta entry that is a list of sizes (kernel, stride, ...), one per axis.
inline std::vector<Index> sizes(const Fixture& f, const char* key) { return f.meta.at(key).get<std::vector<Index>>(); }

/// Forward, then backward of sum(y * g), each tensor against the fixture: y, grad.x and, for a layer with
/// parameters (loaded from the fixture first), grad.<name> of each. `shape`: the batch or the ImageShape.
template <typename Scalar, typename Layer, typename Shape>
void check_parity(Layer& layer, const Fixture& f, const Shape& shape) {
  const double tol = parity_tolerance<Scalar>();
  load_parameters<Scalar>(layer, f);
  typename Layer::Cache cache;
  Matrix<Scalar> y, dx;
  layer.forward(f.matrix<Scalar>("x"), shape, y, &cache);
  CHECK(relative_error<Scalar>("y", y, f.matrix<double>("y")) < tol);
  layer.zero_grad();
  layer.backward(cache, f.matrix<Scalar>("g"), dx);
  CHECK(relative_error<Scalar>("grad.x", dx, f.matrix<double>("grad.x")) < tol);
  if (elm::nn::count_parameters(layer) > 0) check_parameter_grads<Scalar>(layer, f, tol);
}

/// Central differences of sum(R * y), R random, against the analytic dx and every parameter gradient (double).
template <typename Layer, typename Shape>
void check_gradients(Layer& layer, Matrix<double> x, const Shape& shape, elm::Rng& rng) {
  Matrix<double> y, dx;
  typename Layer::Cache cache;
  layer.forward(x, shape, y, &cache);
  const Matrix<double> r = random_matrix(rng, y.rows(), y.cols());
  layer.zero_grad();
  layer.backward(cache, r, dx);
  const auto loss = [&] {
    Matrix<double> out;
    layer.forward(x, shape, out);
    return out.cwiseProduct(r).sum();
  };
  check_gradient("dx", x, loss, dx);
  layer.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    const Matrix<double> analytic = p.gradient();
    check_gradient(name, p.value, loss, analytic);
  });
}

}  // namespace cnn_test
