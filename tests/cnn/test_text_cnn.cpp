// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "cnn_fixture.hpp"
#include "elm/core/rng.hpp"
#include "elm/models/text_cnn.hpp"
#include "elm/nn/loss.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::models::TextCnn;
using elm::models::TextCnnConfig;
namespace nn = elm::nn;

namespace {

TextCnnConfig small_config(double dropout = 0.0) {
  TextCnnConfig c;
  c.vocab_size = 9;
  c.embedding_dim = 3;
  c.kernel_sizes = {1, 3};
  c.filters = 2;
  c.num_labels = 3;
  c.dropout = dropout;
  c.pad_id = 0;
  return c;
}

}  // namespace

TEST_CASE("TextCnn: one column of logits per sequence, whatever the lengths", "[cnn][text_cnn]") {
  elm::Rng rng(3);
  const TextCnn<float> model(small_config(0.5), rng);
  CHECK(model.widest_filter() == 3);
  CHECK(nn::count_parameters(model) == 9 * 3 + (2 * 3 * 1 + 2) + (2 * 3 * 3 + 2) + (3 * 4 + 3));
  std::vector<std::string> names;
  model.for_each_parameter("", [&](const std::string& name, const nn::Parameter<float>&) { names.push_back(name); });
  CHECK(names == std::vector<std::string>{"embedding.weight", "convs.0.weight", "convs.0.bias", "convs.1.weight",
                                          "convs.1.bias", "fc.weight", "fc.bias"});
  Matrix<float> logits, again;
  model.forward({{4}, {1, 2, 3, 4, 5, 6}, {7, 8}}, logits);  // a sequence shorter than the widest filter is padded
  CHECK(logits.rows() == 3);
  CHECK(logits.cols() == 3);
  CHECK(logits.allFinite());
  // inference draws nothing (dropout off) and a sequence scores the same alone as beside longer ones
  model.forward({{7, 8}}, again);
  CHECK((again.col(0) - logits.col(2)).cwiseAbs().maxCoeff() < 1e-6f);
  model.forward({{1, 2, 3, 4, 5, 6}, {7, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1}}, again);
  CHECK((again.col(0) - logits.col(1)).cwiseAbs().maxCoeff() < 1e-6f);
  // the pad id reads as a zero vector: a sequence and the same one with pads after it score alike
  model.forward({{7, 8, 0, 0}}, again);
  CHECK((again.col(0) - logits.col(2)).cwiseAbs().maxCoeff() < 1e-6f);
}

TEMPLATE_TEST_CASE("TextCnn agrees with Kim's CNN written out in PyTorch", "[cnn][text_cnn]", float, double) {
  // tools/make_text_cnn_fixture.py: the texts one at a time, each padded to the widest filter, in float64
  using Scalar = TestType;
  const Fixture f = load("text_cnn");
  TextCnnConfig c;
  c.vocab_size = f.dim("vocab_size");
  c.embedding_dim = f.dim("embedding_dim");
  c.filters = f.dim("filters");
  c.num_labels = f.dim("num_labels");
  c.kernel_sizes = sizes(f, "kernel_sizes");
  c.pad_id = f.dim("pad_id");
  c.dropout = 0.5;  // inference: off, as in the reference
  elm::Rng rng(1);
  TextCnn<Scalar> model(c, rng);
  load_parameters<Scalar>(model, f);
  const auto sequences = f.meta.at("sequences").get<std::vector<std::vector<Index>>>();
  const auto labels = f.meta.at("labels").get<std::vector<Index>>();
  const double tol = parity_tolerance<Scalar>();
  Matrix<Scalar> logits;
  model.zero_grad();
  const Scalar loss = model.loss_and_backward(sequences, labels, {}, &logits);
  CHECK(relative_error<Scalar>("logits", logits, f.matrix<double>("logits")) < tol);
  CHECK(std::abs(double(loss) - f.matrix<double>("loss")(0, 0)) <= tol * std::abs(f.matrix<double>("loss")(0, 0)));
  check_parameter_grads<Scalar>(model, f, tol);
}

TEST_CASE("TextCnn's gradients agree with central differences (double)", "[cnn][text_cnn]") {
  elm::Rng rng(7);
  TextCnn<double> model(small_config(), rng);
  const std::vector<std::vector<Index>> batch{{1, 5, 2, 8, 3}, {4, 4}, {6, 7, 1}};
  const std::vector<Index> labels{2, 0, 1};
  const auto loss = [&] {
    Matrix<double> logits;
    model.forward(batch, logits);
    nn::CrossEntropyOptions sum;
    sum.reduction = nn::Reduction::sum;
    return nn::cross_entropy<double>(logits, labels, sum);
  };
  model.zero_grad();
  const double value = model.loss_and_backward(batch, labels, nn::ForwardContext::train_deterministic());
  CHECK(std::abs(value - loss()) < 1e-12);
  model.for_each_parameter("", [&](const std::string& name, nn::Parameter<double>& p) {
    check_gradient(name, p.value, loss, p.grad);
  });
  // the pad vector gets no gradient: it stays zero through training
  model.for_each_parameter("", [&](const std::string& name, nn::Parameter<double>& p) {
    if (name == "embedding.weight") CHECK(p.grad.col(0).isZero(0.0));
  });
}

TEST_CASE("TextCnn refuses bad input", "[cnn][text_cnn]") {
  elm::Rng rng(1);
  TextCnn<float> model(small_config(), rng);
  Matrix<float> logits;
  CHECK_THAT(error_message<elm::InvalidArgument>([&] { model.forward({{1, 2}, {}}, logits); }),
             Contains("TextCnn::forward") && Contains("sequence 1 is empty"));
  CHECK_THAT(error_message<elm::InvalidArgument>([&] { model.forward({}, logits); }), Contains("no sequences"));
  CHECK_THROWS_AS(model.forward({{1, 9}}, logits), elm::RangeError);
  CHECK_THROWS_AS(model.loss_and_backward({{1, 2}, {3}}, {0}), elm::ShapeError);
  CHECK_THROWS_AS(model.loss_and_backward({{1, 2}}, {3}), elm::RangeError);
  TextCnnConfig c = small_config();
  c.kernel_sizes.clear();
  CHECK_THROWS_AS(TextCnn<float>(c, rng), elm::InvalidArgument);
  c = small_config();
  c.pad_id = 9;
  CHECK_THROWS_AS(TextCnn<float>(c, rng), elm::InvalidArgument);
  c = small_config();
  c.num_labels = 1;
  CHECK_THROWS_AS(TextCnn<float>(c, rng), elm::InvalidArgument);
  c = small_config();
  c.kernel_sizes = {2, 0};
  CHECK_THROWS_AS(TextCnn<float>(c, rng), elm::InvalidArgument);
}
