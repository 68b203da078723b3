// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "../../examples/common/digits.hpp"
#include "../common/files.hpp"
#include "cnn_fixture.hpp"
#include "elm/models/conv_classifier.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adamw.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::models::ConvClassifier;
using elm::models::ConvClassifierConfig;

static_assert(elm::nn::has_parameters_v<ConvClassifier<double>>, "ConvClassifier's parameters can be visited");

TEST_CASE("ConvClassifier: every parameter's gradient against central differences", "[cnn][conv_classifier]") {
  // two blocks on 4x4 images of 2 channels: 4x4 -> 2x2 -> 1x1, then the head; batch statistics (a training
  // forward), no dropout, so the loss is a deterministic function of the parameters
  ConvClassifierConfig config;
  config.channels = 2;
  config.height = 4;
  config.width = 4;
  config.classes = 3;
  config.widths = {3, 2};
  elm::Rng rng(7);
  ConvClassifier<double> model(config, rng);
  const Index B = 3;
  const Matrix<double> x = random_matrix(rng, 2, B * 16);
  const Matrix<double> r = random_matrix(rng, 3, B);
  // BatchNorm's weights start at one and its biases at zero: move them so their gradients are generic
  model.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    if (name.find(".bn.weight") != std::string::npos || name.find(".bn.bias") != std::string::npos)
      p.value += random_matrix(rng, p.value.rows(), p.value.cols(), 0.3);
  });
  const auto context = elm::nn::ForwardContext::train_deterministic();
  ConvClassifier<double>::Cache cache;
  Matrix<double> logits;
  model.forward(x, B, logits, &cache, context);
  REQUIRE(logits.rows() == 3);
  REQUIRE(logits.cols() == B);
  model.zero_grad();
  model.backward(cache, r);
  const auto loss = [&] {
    Matrix<double> out;
    model.forward(x, B, out, nullptr, context);
    return out.cwiseProduct(r).sum();
  };
  int checked = 0;
  model.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    if (!p.trainable) return;
    const Matrix<double> analytic = p.gradient();
    check_gradient(name, p.value, loss, analytic);
    ++checked;
  });
  CHECK(checked == 2 * 4 + 2);  // per block: conv weight and bias, bn weight and bias; the head's two
}

TEST_CASE("ConvClassifier: bad sizes and inputs", "[cnn][conv_classifier]") {
  ConvClassifierConfig config;
  config.kernel = 4;
  CHECK_THAT(error_message<elm::InvalidArgument>([&] { ConvClassifier<double> m(config); }), Contains("odd kernel"));
  config.kernel = 3;
  config.widths = {4, 4, 4, 4};  // 8x8 halved four times
  CHECK_THAT(error_message<elm::InvalidArgument>([&] { ConvClassifier<double> m(config); }),
             Contains("expected images of at least 16x16, got 8x8"));
  config.widths = {4};
  const ConvClassifier<double> model(config);
  Matrix<double> logits;
  CHECK_THAT(error_message<elm::ShapeError>([&] { model.forward(Matrix<double>::Zero(1, 100), 2, logits); }),
             Contains("expected batch * height * width = 2 * 8 * 8"));
  CHECK_THAT(error_message<elm::ShapeError>([&] { model.forward(Matrix<double>::Zero(3, 128), 2, logits); }),
             Contains("expected"));
}

TEST_CASE("ConvClassifier learns the 8x8 digits: held-out accuracy after a short training", "[cnn][conv_classifier]") {
  // elm-digits classify trains the {32, 64} network for 600 steps to 99.2-99.7 % held out (seeds 1-5,
  // docs/models/digits.md); this smaller one, 120 steps of 64 images (about five epochs; 1.4 s at -O1, in double
  // to reuse the double layers the gradient checks compile), reaches 98.9 % with seed 1 (97.5-98.9 % with seeds
  // 1-8) and must pass 95 %.
  const auto split = elm::examples::load_digits(std::string(ELM_SOURCE_DIR) + "/examples/data/digits/digits.csv");
  REQUIRE(split.train.size() == 1438);
  REQUIRE(split.held_out.size() == 359);
  ConvClassifierConfig config;
  config.widths = {16, 32};
  elm::Rng rng(1);
  ConvClassifier<double> model(config, rng);
  elm::nn::AdamW<double> optimizer({3e-3, 0.9, 0.999, 1e-8, 0.01});
  const Index B = 64, steps = 120, N = split.train.size();
  std::vector<Index> order(static_cast<std::size_t>(N));
  for (Index i = 0; i < N; ++i) order[static_cast<std::size_t>(i)] = i;
  Matrix<double> x(64, B), logits, dlogits;
  std::vector<Index> labels(static_cast<std::size_t>(B));
  for (Index step = 0; step < steps; ++step) {
    if ((step * B) % N < B) rng.shuffle(order.begin(), order.end());  // a new order each epoch
    for (Index j = 0; j < B; ++j) {
      const Index i = order[static_cast<std::size_t>((step * B + j) % N)];
      x.col(j) = split.train.pixels.col(i).cast<double>();
      labels[static_cast<std::size_t>(j)] = split.train.labels[static_cast<std::size_t>(i)];
    }
    ConvClassifier<double>::Cache cache;
    model.zero_grad();
    model.forward(Eigen::Map<const Matrix<double>>(x.data(), 1, x.size()), B, logits, &cache,
                  elm::nn::ForwardContext::train(rng));
    elm::nn::cross_entropy<double>(logits, labels, {}, &dlogits);  // the mean over the batch
    model.backward(cache, dlogits);
    optimizer.step(model);
  }
  const auto& held = split.held_out;
  const Matrix<double> pixels = held.pixels.cast<double>();
  const std::vector<Index> predicted =
      model.predict(Eigen::Map<const Matrix<double>>(pixels.data(), 1, pixels.size()), held.size());
  Index right = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == held.labels[i];
  const double accuracy = double(right) / double(held.size());
  INFO("held-out accuracy " << accuracy);
  CHECK(accuracy > 0.95);
}

TEST_CASE("The digits loader refuses a missing, empty or malformed file with the line and field", "[cnn][digits]") {
  const std::filesystem::path dir = elm_test::fresh_directory("digits_loader");
  std::filesystem::create_directories(dir);
  const std::string pixels63 = [] {
    std::string s;
    for (int i = 0; i < 63; ++i) s += "0,";
    return s;
  }();
  const auto refusal = [&](const std::string& name, const std::string& bytes) {
    elm_test::write_bytes(dir / name, bytes);
    return error_message<elm::FormatError>([&] { elm::examples::load_digits((dir / name).string()); });
  };
  CHECK_THROWS_AS(elm::examples::load_digits((dir / "absent.csv").string()), elm::IoError);
  CHECK_THAT(refusal("empty.csv", ""), Contains("holds 0 images") && Contains("expected at least 5"));
  CHECK_THAT(refusal("short.csv", pixels63 + "3\n"), Contains("line 1") && Contains("got 64"));
  CHECK_THAT(refusal("bright.csv", "17," + pixels63 + "3\n"),
             Contains("line 1 field 1") && Contains("a pixel value 0-16, got '17'"));
  CHECK_THAT(refusal("label.csv", pixels63 + "0,10\n"), Contains("field 65") && Contains("a label 0-9, got '10'"));
  CHECK_THAT(refusal("text.csv", pixels63 + "0,1\n" + pixels63 + "x,1\n"),
             Contains("line 2 field 64") && Contains("got 'x'"));
  CHECK_THAT(refusal("long.csv", pixels63 + "0,1,2\n"), Contains("field 66") && Contains("no more than 65 fields"));
}
