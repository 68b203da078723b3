// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "elm/nn/attention_pooling.hpp"
#include "fixture.hpp"

using namespace attention_test;
using elm::nn::AttentionPooling;
using Catch::Matchers::Contains;

static_assert(elm::nn::is_layer_v<AttentionPooling<float>>, "AttentionPooling keeps the layer contract");

TEMPLATE_TEST_CASE("AttentionPooling matches the PyTorch reference: output, weights, gradients",
                   "[attention][pooling][parity]", float, double) {
  const Fixture f = load_fixture("pooling");
  const double tol = parity_tolerance<TestType>();
  AttentionPooling<TestType> pool(f.dim("C"), f.dim("A"));
  load_parameters<TestType>(pool, f);
  typename AttentionPooling<TestType>::Cache cache;
  Matrix<TestType> y, w, dx;
  pool.forward(f.matrix<TestType>("x"), f.lengths(), y, w, &cache);
  // PyTorch's y is (B, C) and its weights (B, T): elm's (C, B) and (T, B).
  CHECK(relative_error<TestType>("y", y, f.matrix<double>("y")) < tol);
  CHECK(relative_error<TestType>("weights", w, f.matrix<double>("weights")) < tol);
  pool.zero_grad();
  pool.backward(cache, f.matrix<TestType>("g"), dx);
  CHECK(relative_error<TestType>("grad.x", dx, f.matrix<double>("grad.x")) < tol);
  check_parameter_grads<TestType>(pool, f, tol);
}

TEST_CASE("AttentionPooling: hand case, gradient check, bad lengths", "[attention][pooling][grad]") {
  AttentionPooling<double> pool(2, 3);
  // Zero parameters give equal scores: the pooled vector is the mean of the valid positions.
  Matrix<double> x(2, 3);
  x << 1, 2, 100, 3, 5, 100;
  Matrix<double> y;
  pool.forward(x, {2}, y);
  CHECK(y(0, 0) == 1.5);
  CHECK(y(1, 0) == 4.0);

  elm::Rng rng(12);
  pool.reset_parameters(rng);
  Matrix<double> xs = random_matrix(rng, 2, 3 * 4);
  const Matrix<double> g = random_matrix(rng, 2, 3);
  const std::vector<Index> lengths{4, 1, 3};
  auto loss = [&]() {
    Matrix<double> out;
    pool.forward(xs, lengths, out);
    return (out.array() * g.array()).sum();
  };
  AttentionPooling<double>::Cache cache;
  Matrix<double> out, dx;
  pool.forward(xs, lengths, out, &cache);
  pool.zero_grad();
  pool.backward(cache, g, dx);
  check_gradient("dx", xs, loss, dx);
  pool.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    check_gradient(name, p.value, loss, p.grad);
  });
  REQUIRE_THROWS_MATCHES(pool.forward(xs, {4, 0, 3}, out), elm::RangeError,
                         Catch::Matchers::Message("elm::nn::AttentionPooling::forward: length 0 is out of range, "
                                                  "expected 1 <= length <= T = 4"));
  REQUIRE_THROWS_WITH(pool.forward(xs, {4, 4, 4, 4, 4}, out), Contains("expected a positive multiple of B"));
  REQUIRE_THROWS_WITH(pool.forward(Matrix<double>::Zero(3, 4), {4}, out), Contains("x is 3x4, expected 2xany"));
}

TEST_CASE("AttentionPooling's constructor taking an Rng is construction then reset_parameters",
          "[attention][pooling]") {
  elm::Rng a(3), b(3);
  const AttentionPooling<double> direct(4, 3, a);
  AttentionPooling<double> reset(4, 3);
  reset.reset_parameters(b);
  const auto values = parameter_values<double>(direct);
  CHECK(values.size() == 3);
  CHECK(values == parameter_values<double>(reset));
  CHECK(values.at("proj.weight").cwiseAbs().maxCoeff() > 0.0);
}
