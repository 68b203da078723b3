// SPDX-License-Identifier: MIT
// Parity with PyTorch (float32 on both sides) for the layers and losses; fixtures from
// tools/make_nn_fixtures.py. Tolerance: max |ours - torch| <= 1e-5 max |torch| per tensor (normwise relative),
// the 1e-5 relative: both sides round in float32, and sums over 64 terms differ in order.
#include <catch2/catch.hpp>

#include <string>

#include "elm/nn/activations.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/softmax.hpp"
#include "fixtures.hpp"

namespace nn = elm::nn;
using elm_test::Fixture;
using elm_test::parity_error;
using MatF = elm::Matrix<float>;

namespace {
constexpr double tolerance = 1e-5;
}

TEST_CASE("Linear matches torch.nn.Linear forward and backward", "[nn][linear][parity]") {
  Fixture f("linear.txt");
  const MatF w = f.matrix("weight");
  nn::Linear<float> layer(w.rows(), w.cols());
  layer.weight().value = w;
  layer.bias().value = f.matrix("bias");
  nn::Linear<float>::Cache cache;
  MatF y, dx;
  layer.forward(f.matrix("x"), y, &cache);
  layer.backward(cache, f.matrix("dy"), dx);
  CHECK(parity_error("y", y, f.matrix("y")) < tolerance);
  CHECK(parity_error("dx", dx, f.matrix("dx")) < tolerance);
  CHECK(parity_error("dweight", layer.weight().grad, f.matrix("dweight")) < tolerance);
  CHECK(parity_error("dbias", layer.bias().grad, f.matrix("dbias")) < tolerance);
}

TEST_CASE("Embedding matches torch.nn.Embedding", "[nn][embedding][parity]") {
  Fixture f("embedding.txt");
  const MatF w = f.matrix("weight");
  nn::Embedding<float> table(w.cols(), w.rows());
  table.weight().value = w;
  nn::Embedding<float>::Cache cache;
  MatF y;
  table.forward(f["ids"].ids(), y, &cache);
  table.backward(cache, f.matrix("dy"));
  CHECK(parity_error("y", y, f.matrix("y")) == 0.0);
  CHECK(parity_error("dweight", table.weight().grad, f.matrix("dweight")) < tolerance);
}

TEST_CASE("LayerNorm matches torch.nn.LayerNorm", "[nn][layer_norm][parity]") {
  Fixture f("layer_norm.txt");
  nn::LayerNorm<float> norm(f.matrix("weight").rows());
  norm.weight().value = f.matrix("weight");
  norm.bias().value = f.matrix("bias");
  nn::LayerNorm<float>::Cache cache;
  MatF y, dx;
  norm.forward(f.matrix("x"), y, &cache);
  norm.backward(cache, f.matrix("dy"), dx);
  CHECK(parity_error("y", y, f.matrix("y")) < tolerance);
  CHECK(parity_error("dx", dx, f.matrix("dx")) < tolerance);
  CHECK(parity_error("dweight", norm.weight().grad, f.matrix("dweight")) < tolerance);
  CHECK(parity_error("dbias", norm.bias().grad, f.matrix("dbias")) < tolerance);
}

TEST_CASE("Activations, softmax and log-softmax match PyTorch", "[nn][activations][softmax][parity]") {
  Fixture f("pointwise.txt");
  const MatF x = f.matrix("x"), dy = f.matrix("dy");
  for (const char* name : {"gelu", "gelu_tanh", "relu", "tanh", "sigmoid"}) {
    INFO(name);
    nn::Activation<float> act(nn::parse_activation(name));
    nn::Activation<float>::Cache cache;
    MatF y, dx;
    act.forward(x, y, &cache);
    act.backward(cache, dy, dx);
    CHECK(parity_error(std::string(name) + ".y", y, f.matrix(std::string(name) + ".y")) < tolerance);
    CHECK(parity_error(std::string(name) + ".dx", dx, f.matrix(std::string(name) + ".dx")) < tolerance);
  }
  nn::Softmax<float> softmax;
  nn::Softmax<float>::Cache sc;
  MatF y, dx;
  softmax.forward(x, y, &sc);
  softmax.backward(sc, dy, dx);
  CHECK(parity_error("softmax.y", y, f.matrix("softmax.y")) < tolerance);
  CHECK(parity_error("softmax.dx", dx, f.matrix("softmax.dx")) < tolerance);
  nn::LogSoftmax<float> log_softmax;
  nn::LogSoftmax<float>::Cache lc;
  log_softmax.forward(x, y, &lc);
  log_softmax.backward(lc, dy, dx);
  CHECK(parity_error("log_softmax.y", y, f.matrix("log_softmax.y")) < tolerance);
  CHECK(parity_error("log_softmax.dx", dx, f.matrix("log_softmax.dx")) < tolerance);
}

TEST_CASE("Losses match PyTorch, with ignore_index and label smoothing", "[nn][loss][parity]") {
  Fixture f("loss.txt");
  const MatF logits = f.matrix("logits");
  const auto targets = f["targets"].ids();
  for (const char* name : {"ce", "ce_smooth"})
    for (const char* red : {"mean", "sum"}) {
      const std::string key = std::string(name) + "." + red;
      INFO(key);
      nn::CrossEntropyOptions options;
      options.label_smoothing = std::string(name) == "ce_smooth" ? 0.1 : 0.0;
      options.reduction = std::string(red) == "mean" ? nn::Reduction::mean : nn::Reduction::sum;
      MatF d;
      const float loss = nn::cross_entropy<float>(logits, targets, options, &d);
      CHECK(std::abs(double(loss) - f[key + ".loss"].scalar()) <= tolerance * std::abs(f[key + ".loss"].scalar()));
      CHECK(parity_error(key + ".dlogits", d, f.matrix(key + ".dlogits")) < tolerance);
    }
  MatF d;
  const float bce = nn::bce_with_logits<float>(logits, f.matrix("bce.targets"), nn::Reduction::mean, &d);
  CHECK(std::abs(double(bce) - f["bce.loss"].scalar()) <= tolerance * f["bce.loss"].scalar());
  CHECK(parity_error("bce.dlogits", d, f.matrix("bce.dlogits")) < tolerance);
  const float mse = nn::mse<float>(logits, f.matrix("bce.targets"), nn::Reduction::mean, &d);
  CHECK(std::abs(double(mse) - f["mse.loss"].scalar()) <= tolerance * f["mse.loss"].scalar());
  CHECK(parity_error("mse.dpred", d, f.matrix("mse.dpred")) < tolerance);
}
