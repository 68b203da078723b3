// SPDX-License-Identifier: MIT
// Hand-sized cases, gradient checks and bad input for Linear, Embedding, activations, softmax, LayerNorm,
// Dropout and Sequential.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "elm/nn/activations.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/sequential.hpp"
#include "elm/nn/softmax.hpp"
#include "gradcheck.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using elm::Index;
using elm_test::MatD;
using elm_test::max_rel_error;
using elm_test::project;
using elm_test::random_matrix;

namespace nn = elm::nn;

TEMPLATE_TEST_CASE("Linear computes W x + b on a 2x3 example", "[nn][linear]", float, double) {
  nn::Linear<TestType> layer(3, 2);
  // PyTorch weight (out = 2, in = 3) = [[1, 2, 3], [4, 5, 6]] is the Eigen (3, 2) matrix of its transpose.
  layer.weight().value << 1, 4, 2, 5, 3, 6;
  layer.bias().value << 0.5, -1;
  elm::Matrix<TestType> x(3, 1);
  x << 1, 0, -1;
  elm::Matrix<TestType> y;
  layer.forward(x, y);
  // [1 - 3 + 0.5, 4 - 6 - 1] = [-1.5, -3]
  REQUIRE(y.rows() == 2);
  CHECK_THAT(double(y(0, 0)), WithinAbs(-1.5, 1e-6));
  CHECK_THAT(double(y(1, 0)), WithinAbs(-3.0, 1e-6));
  REQUIRE_THROWS_MATCHES(layer.forward(elm::Matrix<TestType>(4, 2), y), elm::ShapeError,
                         Catch::Matchers::Message("elm::nn::Linear::forward: x is 4x2, expected 3xany"));
}

TEST_CASE("Linear gradients match central differences", "[nn][linear][gradcheck]") {
  elm::Rng rng(GENERATE(1u, 2u));
  const bool bias = GENERATE(true, false);
  const Index in = 3 + Index(rng.below(4)), out = 2 + Index(rng.below(4)), n = 1 + Index(rng.below(5));
  nn::Linear<double> layer(in, out, rng, bias);
  MatD x = random_matrix(in, n, rng), r = random_matrix(out, n, rng);
  auto loss = [&] {
    MatD y;
    layer.forward(x, y);
    return project(y, r);
  };
  nn::Linear<double>::Cache cache;
  MatD y, dx;
  layer.forward(x, y, &cache);
  layer.zero_grad();
  layer.backward(cache, r, dx);
  CHECK(max_rel_error(x, dx, loss) < 1e-6);
  CHECK(max_rel_error(layer.weight().value, layer.weight().grad, loss) < 1e-6);
  if (bias) CHECK(max_rel_error(layer.bias().value, layer.bias().grad, loss) < 1e-6);
  std::vector<std::string> names;
  layer.for_each_parameter("fc", [&](const std::string& name, nn::Parameter<double>&) { names.push_back(name); });
  CHECK(names == (bias ? std::vector<std::string>{"fc.weight", "fc.bias"} : std::vector<std::string>{"fc.weight"}));
}

TEST_CASE("Embedding looks up columns and adds gradients of repeated ids", "[nn][embedding]") {
  nn::Embedding<double> table(4, 2);
  table.weight().value << 0, 1, 2, 3, 10, 11, 12, 13;  // column v = (v, 10 + v)
  MatD y;
  nn::Embedding<double>::Cache cache;
  table.forward({2, 0, 2}, y, &cache);
  CHECK(y(0, 0) == 2);
  CHECK(y(1, 0) == 12);
  CHECK(y(1, 1) == 10);
  MatD dy(2, 3);
  dy << 1, 2, 3, 4, 5, 6;
  table.backward(cache, dy);
  CHECK(table.weight().grad(0, 2) == 4);  // 1 + 3
  CHECK(table.weight().grad(1, 2) == 10);  // 4 + 6
  CHECK(table.weight().grad(0, 0) == 2);
  CHECK(table.weight().grad(0, 1) == 0);
  REQUIRE_THROWS_MATCHES(table.forward({1, 4}, y), elm::RangeError, elm_test::MessageContains("token id = 4 is out of range"));
  REQUIRE_THROWS_AS(table.forward({-1}, y), elm::RangeError);
  table.set_trainable(false);
  table.zero_grad();
  table.backward(cache, dy);
  CHECK(table.weight().grad.isZero());
}

TEST_CASE("Embedding from pretrained vectors copies known words and draws the rest", "[nn][embedding]") {
  MatD vectors(2, 2);
  vectors << 1, 3, 2, 4;  // "the" = (1, 2), "cat" = (3, 4)
  elm::Rng rng(3);
  Index found = 0;
  auto table = nn::Embedding<double>::from_pretrained(vectors, {"the", "cat"}, {"<unk>", "cat", "the"}, rng,
                                                      false, 0.1, &found);
  CHECK(found == 2);
  CHECK(table.vocab_size() == 3);
  CHECK(table.weight().value.col(1) == vectors.col(1));
  CHECK(table.weight().value.col(2) == vectors.col(0));
  CHECK_FALSE(table.trainable());
  REQUIRE_THROWS_AS(nn::Embedding<double>::from_pretrained(vectors, {"the"}, {"the"}, rng), elm::ShapeError);
}

TEST_CASE("Activations match hand values", "[nn][activations]") {
  // GELU(1) = 0.5 (1 + erf(1/sqrt 2)) = 0.8413447460685429; tanh form: 0.5 (1 + tanh(0.7978845608 * 1.044715))
  // = 0.8411919906082768; sigmoid(0) = 0.5; ReLU(-2) = 0.
  auto activate = [](nn::ActivationKind kind, double x) {
    MatD in = MatD::Constant(1, 1, x), out;
    nn::Activation<double>(kind).forward(in, out);
    return out(0, 0);
  };
  CHECK_THAT(activate(nn::ActivationKind::gelu, 1.0), WithinAbs(0.8413447460685429, 1e-15));
  CHECK_THAT(activate(nn::ActivationKind::gelu_tanh, 1.0), WithinAbs(0.8411919906082768, 1e-15));
  CHECK(activate(nn::ActivationKind::sigmoid, 0.0) == 0.5);
  CHECK(activate(nn::ActivationKind::relu, -2.0) == 0.0);
  CHECK(activate(nn::ActivationKind::sigmoid, -1000.0) == 0.0);
  CHECK(nn::parse_activation("gelu_new") == nn::ActivationKind::gelu_tanh);
  REQUIRE_THROWS_MATCHES(nn::parse_activation("swish"), elm::InvalidArgument, elm_test::MessageContains("unknown activation"));
}

TEST_CASE("Activation gradients match central differences", "[nn][activations][gradcheck]") {
  const auto kind = GENERATE(nn::ActivationKind::relu, nn::ActivationKind::gelu, nn::ActivationKind::gelu_tanh,
                             nn::ActivationKind::tanh, nn::ActivationKind::sigmoid, nn::ActivationKind::identity);
  elm::Rng rng(7);
  MatD x = random_matrix(4, 3, rng), r = random_matrix(4, 3, rng);
  // Keep ReLU inputs away from its kink, where central differences are not the derivative.
  for (Index i = 0; i < x.size(); ++i)
    if (std::abs(x(i)) < 1e-3) x(i) = 0.5;
  nn::Activation<double> act(kind);
  auto loss = [&] {
    MatD y;
    act.forward(x, y);
    return project(y, r);
  };
  nn::Activation<double>::Cache cache;
  MatD y, dx;
  act.forward(x, y, &cache);
  act.backward(cache, r, dx);
  INFO(nn::activation_name(kind));
  CHECK(max_rel_error(x, dx, loss) < 1e-6);
}

TEST_CASE("Softmax columns sum to one and survive large logits", "[nn][softmax]") {
  const Index rows = GENERATE(1, 3, 17);
  elm::Rng rng(11);
  MatD x = random_matrix(rows, 5, rng, 30.0);
  x(0, 0) = 1e4;
  MatD y;
  nn::Softmax<double>().forward(x, y);
  for (Index t = 0; t < y.cols(); ++t) CHECK_THAT(y.col(t).sum(), WithinAbs(1.0, 1e-12));
  MatD log_y;
  nn::LogSoftmax<double>().forward(x, log_y);
  CHECK(log_y.allFinite());
  CHECK_THAT((log_y.array().exp().matrix() - y).cwiseAbs().maxCoeff(), WithinAbs(0.0, 1e-12));
}

TEST_CASE("Softmax and log-softmax gradients match central differences", "[nn][softmax][gradcheck]") {
  elm::Rng rng(GENERATE(1u, 2u, 3u));
  MatD x = random_matrix(5, 3, rng), r = random_matrix(5, 3, rng);
  nn::Softmax<double> softmax;
  nn::LogSoftmax<double> log_softmax;
  nn::Softmax<double>::Cache c1;
  nn::LogSoftmax<double>::Cache c2;
  MatD y, dx;
  softmax.forward(x, y, &c1);
  softmax.backward(c1, r, dx);
  CHECK(max_rel_error(x, dx, [&] { MatD out; softmax.forward(x, out); return project(out, r); }) < 1e-6);
  log_softmax.forward(x, y, &c2);
  log_softmax.backward(c2, r, dx);
  CHECK(max_rel_error(x, dx, [&] { MatD out; log_softmax.forward(x, out); return project(out, r); }) < 1e-6);
}

TEMPLATE_TEST_CASE("LayerNorm normalises a column by hand", "[nn][layer_norm]", float, double) {
  nn::LayerNorm<TestType> norm(3);
  norm.weight().value << 1, 2, 1;
  norm.bias().value << 0, 0, 1;
  elm::Matrix<TestType> x(3, 1), y;
  x << 1, 2, 3;
  norm.forward(x, y);
  // mean 2, biased var 2/3, rstd = 1/sqrt(2/3 + 1e-5); x_hat = (-1, 0, 1) rstd; y = (-rstd, 0, rstd + 1).
  const double rstd = 1.0 / std::sqrt(2.0 / 3.0 + 1e-5);
  CHECK_THAT(double(y(0, 0)), WithinAbs(-rstd, 1e-5));
  CHECK_THAT(double(y(1, 0)), WithinAbs(0.0, 1e-6));
  CHECK_THAT(double(y(2, 0)), WithinAbs(rstd + 1.0, 1e-5));
  REQUIRE_THROWS_AS(norm.forward(elm::Matrix<TestType>(2, 1), y), elm::ShapeError);
  REQUIRE_THROWS_AS(nn::LayerNorm<TestType>(0), elm::InvalidArgument);
}

TEST_CASE("LayerNorm gradients match central differences", "[nn][layer_norm][gradcheck]") {
  elm::Rng rng(GENERATE(1u, 2u));
  const Index c = 2 + Index(rng.below(6)), n = 1 + Index(rng.below(4));
  nn::LayerNorm<double> norm(c);
  rng.fill_normal(norm.weight().value, 1.0, 0.5);
  rng.fill_normal(norm.bias().value, 0.0, 0.5);
  MatD x = random_matrix(c, n, rng, 2.0), r = random_matrix(c, n, rng);
  auto loss = [&] {
    MatD y;
    norm.forward(x, y);
    return project(y, r);
  };
  nn::LayerNorm<double>::Cache cache;
  MatD y, dx;
  norm.forward(x, y, &cache);
  norm.zero_grad();
  norm.backward(cache, r, dx);
  CHECK(max_rel_error(x, dx, loss) < 1e-6);
  CHECK(max_rel_error(norm.weight().value, norm.weight().grad, loss) < 1e-6);
  CHECK(max_rel_error(norm.bias().value, norm.bias().grad, loss) < 1e-6);
}

TEST_CASE("Dropout is seeded in training and the identity at inference", "[nn][dropout]") {
  nn::Dropout<double> drop(0.25);
  elm::Rng rng(5);
  MatD x = random_matrix(50, 40, rng), y, y2;
  drop.forward(x, y);
  CHECK(y == x);
  nn::Dropout<double>::Cache cache;
  elm::Rng a(9), b(9);
  drop.forward(x, y, &cache, nn::ForwardContext::train(a));
  drop.forward(x, y2, nullptr, nn::ForwardContext::train(b));
  CHECK(y == y2);
  // A training context without a generator cannot drop: it says so instead of silently not dropping.
  REQUIRE_THROWS_MATCHES(drop.forward(x, y2, nullptr, nn::ForwardContext::train_deterministic()),
                         elm::InvalidArgument, elm_test::MessageContains("needs ForwardContext::train(rng)"));
  nn::Dropout<double>(0.0).forward(x, y2, nullptr, nn::ForwardContext::train_deterministic());
  CHECK(y2 == x);
  const double kept = double((cache.mask.array() > 0).count()) / double(cache.mask.size());
  CHECK_THAT(kept, WithinAbs(0.75, 0.03));  // 2000 Bernoulli(0.75) draws: sd 0.0097
  for (Index i = 0; i < x.size(); ++i) CHECK((y(i) == 0.0 || std::abs(y(i) - x(i) / 0.75) < 1e-12));
  MatD dx;
  drop.backward(cache, MatD::Ones(50, 40), dx);
  CHECK(dx == cache.mask);
  REQUIRE_THROWS_MATCHES(nn::Dropout<double>(1.0), elm::InvalidArgument, elm_test::MessageContains("expected 0 <= p < 1"));
}

TEST_CASE("Sequential chains layers, names parameters by position and backpropagates", "[nn][sequential]") {
  elm::Rng rng(21);
  nn::Sequential seq(nn::Linear<double>(4, 6, rng), nn::Activation<double>(nn::ActivationKind::tanh),
                     nn::Dropout<double>(0.5), nn::LayerNorm<double>(6), nn::Linear<double>(6, 3, rng));
  std::vector<std::string> names;
  seq.for_each_parameter("mlp", [&](const std::string& name, nn::Parameter<double>&) { names.push_back(name); });
  CHECK(names == std::vector<std::string>{"mlp.0.weight", "mlp.0.bias", "mlp.3.weight", "mlp.3.bias",
                                          "mlp.4.weight", "mlp.4.bias"});
  CHECK(nn::count_parameters(seq) == 4 * 6 + 6 + 6 + 6 + 6 * 3 + 3);
  MatD x = random_matrix(4, 3, rng), r = random_matrix(3, 3, rng);
  auto loss = [&] {
    MatD y;
    seq.forward(x, y);  // inference: dropout off, so the check sees a deterministic function
    return project(y, r);
  };
  decltype(seq)::Cache cache;
  MatD y, dx;
  seq.forward(x, y, &cache);
  seq.zero_grad();
  seq.backward(cache, r, dx);
  CHECK(max_rel_error(x, dx, loss) < 1e-6);
  CHECK(max_rel_error(seq.layer<0>().weight().value, seq.layer<0>().weight().grad, loss) < 1e-6);
  CHECK(max_rel_error(seq.layer<3>().weight().value, seq.layer<3>().weight().grad, loss) < 1e-6);
  MatD y_train;
  seq.forward(x, y_train, &cache, nn::ForwardContext::train(rng));
  CHECK(y_train != y);
}
