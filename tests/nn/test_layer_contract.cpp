// SPDX-License-Identifier: MIT
// The layer contract (elm/nn/layer.hpp): which types keep it, the one initialisation, gradients allocated on
// first use, and the layouts of the dense layers the Transformer blocks are made of.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "elm/nn/activations.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/feed_forward.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/optim/adam.hpp"
#include "elm/nn/positional_encoding.hpp"
#include "elm/nn/sequential.hpp"
#include "elm/nn/softmax.hpp"
#include "gradcheck.hpp"

using Catch::Matchers::Contains;
using elm::Index;
using elm_test::MatD;
using elm_test::max_rel_error;
using elm_test::project;
using elm_test::random_matrix;

namespace nn = elm::nn;

namespace {

// Not layers: no backward; no Cache; no const parameter visit.
struct NoBackward {
  using scalar_type = double;
  struct Cache {};
  void forward(const elm::Matrix<double>&, elm::Matrix<double>&, Cache*, const nn::ForwardContext&) const {}
  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}
};
struct MutableVisitOnly {
  template <typename F>
  void for_each_parameter(std::string_view, F&&) {}
};

}  // namespace

TEST_CASE("the contract's traits accept every matrix layer and refuse what lacks a part", "[nn][contract]") {
  STATIC_REQUIRE(nn::is_matrix_layer_v<nn::Linear<float>>);
  STATIC_REQUIRE(nn::is_matrix_layer_v<nn::LayerNorm<double>>);
  STATIC_REQUIRE(nn::is_matrix_layer_v<nn::Activation<float>>);
  STATIC_REQUIRE(nn::is_matrix_layer_v<nn::Dropout<float>>);
  STATIC_REQUIRE(nn::is_matrix_layer_v<nn::Softmax<float>>);
  STATIC_REQUIRE(nn::is_matrix_layer_v<nn::LogSoftmax<double>>);
  STATIC_REQUIRE(nn::is_matrix_layer_v<nn::FeedForward<float>>);
  STATIC_REQUIRE(nn::is_matrix_layer_v<nn::Sequential<nn::Linear<float>, nn::Activation<float>>>);
  // token ids in: a layer, not a matrix layer (no input gradient)
  STATIC_REQUIRE(nn::is_layer_v<nn::Embedding<float>>);
  STATIC_REQUIRE(!nn::is_matrix_layer_v<nn::Embedding<float>>);
  STATIC_REQUIRE(nn::is_layer_v<nn::LearnedPositionalEmbedding<float>>);
  STATIC_REQUIRE(!nn::is_matrix_layer_v<NoBackward>);
  STATIC_REQUIRE(nn::is_layer_v<NoBackward>);
  STATIC_REQUIRE(!nn::has_parameters_v<MutableVisitOnly>);  // saving needs the const visit
  STATIC_REQUIRE(nn::has_reset_parameters_v<nn::Linear<float>>);
  STATIC_REQUIRE(!nn::has_reset_parameters_v<nn::Activation<float>>);
}

TEST_CASE("one initialisation: the Rng constructors are reset_parameters, and Sequential resets each layer",
          "[nn][contract]") {
  elm::Rng a(3), b(3);
  const nn::Linear<double> constructed(5, 4, a);
  nn::Linear<double> reset(5, 4);
  reset.reset_parameters(b);
  CHECK(constructed.weight().value == reset.weight().value);
  CHECK(constructed.bias().value == reset.bias().value);
  // PyTorch's bound 1/sqrt(in)
  CHECK(reset.weight().value.cwiseAbs().maxCoeff() < 1.0 / std::sqrt(5.0));

  nn::Sequential seq(nn::Linear<double>(5, 4), nn::Activation<double>(nn::ActivationKind::relu),
                     nn::LayerNorm<double>(4), nn::Linear<double>(4, 2));
  seq.layer<2>().weight().value.setZero();
  elm::Rng c(3);
  seq.reset_parameters(c);
  CHECK(seq.layer<0>().weight().value == reset.weight().value);  // the same draws, in order
  CHECK(seq.layer<2>().weight().value == MatD::Ones(4, 1));       // LayerNorm: ones, zeros
  CHECK(seq.layer<3>().weight().value.cwiseAbs().maxCoeff() > 0.0);
}

TEST_CASE("gradients are allocated on first use, so inference holds the weights once", "[nn][contract][parameter]") {
  elm::Rng rng(8);
  nn::Linear<double> layer(6, 3, rng);
  MatD x = random_matrix(6, 4, rng), y, dx;
  layer.forward(x, y);
  layer.zero_grad();  // zeroing an unallocated gradient leaves it unallocated
  CHECK(layer.weight().grad.size() == 0);
  CHECK(!layer.weight().has_grad());
  nn::Linear<double>::Cache cache;
  layer.forward(x, y, &cache, nn::ForwardContext::train_deterministic());
  layer.backward(cache, MatD::Ones(3, 4), dx);
  REQUIRE(layer.weight().grad.rows() == 6);
  CHECK(layer.weight().grad.cols() == 3);
  CHECK(layer.bias().grad.size() == 3);
  layer.weight().release_grad();
  CHECK(layer.weight().grad.size() == 0);
  // An optimizer step over a parameter no backward reached treats its gradient as zero.
  nn::Linear<double> untouched(2, 1, rng);
  const MatD before = untouched.weight().value;
  nn::Adam<double> adam;
  adam.step(untouched);
  CHECK(untouched.weight().value == before);
}

TEST_CASE("a Conv1D-layout Linear equals nn.Linear on the transposed weight, forward and backward",
          "[nn][linear][contract]") {
  elm::Rng rng(12);
  nn::Linear<double> torch_layout(5, 3, rng);
  nn::Linear<double> conv1d(5, 3, true, nn::WeightLayout::in_out);
  CHECK(conv1d.weight().shape == std::vector<Index>{5, 3});  // GPT-2's (in, out)
  CHECK(conv1d.in_features() == 5);
  CHECK(conv1d.out_features() == 3);
  conv1d.weight().value = torch_layout.weight().value.transpose();
  conv1d.bias().value = torch_layout.bias().value;
  MatD x = random_matrix(5, 7, rng), y1, y2, dx1, dx2;
  const MatD r = random_matrix(3, 7, rng);
  nn::Linear<double>::Cache c1, c2;
  torch_layout.forward(x, y1, &c1);
  conv1d.forward(x, y2, &c2);
  CHECK((y1 - y2).cwiseAbs().maxCoeff() < 1e-14);
  torch_layout.backward(c1, r, dx1);
  conv1d.backward(c2, r, dx2);
  CHECK((dx1 - dx2).cwiseAbs().maxCoeff() < 1e-14);
  CHECK((torch_layout.weight().grad.transpose() - conv1d.weight().grad).cwiseAbs().maxCoeff() < 1e-14);
}

TEST_CASE("FeedForward names its layers as configured and passes a gradient check, dropout included",
          "[nn][feed-forward][grad]") {
  nn::FeedForwardConfig config;
  config.width = 4;
  config.intermediate = 7;
  config.activation = nn::ActivationKind::gelu_tanh;
  config.dropout = 0.3;
  config.layout = nn::WeightLayout::in_out;
  config.fc1_name = "mlp.c_fc";
  config.fc2_name = "mlp.c_proj";
  nn::FeedForward<double> ff(config);
  elm::Rng rng(4);
  ff.reset_parameters(rng);
  std::vector<std::string> names;
  ff.for_each_parameter("h.0", [&](const std::string& n, const nn::Parameter<double>&) { names.push_back(n); });
  CHECK(names == std::vector<std::string>{"h.0.mlp.c_fc.weight", "h.0.mlp.c_fc.bias", "h.0.mlp.c_proj.weight",
                                          "h.0.mlp.c_proj.bias"});
  MatD x = random_matrix(4, 5, rng);
  const MatD r = random_matrix(4, 5, rng);
  elm::Rng drops;
  auto loss = [&] {
    drops.reseed(77);  // the same dropout mask at every evaluation
    MatD y;
    ff.forward(x, y, nullptr, nn::ForwardContext::train(drops));
    return project(y, r);
  };
  nn::FeedForward<double>::Cache cache;
  MatD y, dx;
  drops.reseed(77);
  ff.forward(x, y, &cache, nn::ForwardContext::train(drops));
  CHECK(cache.drop.mask.size() > 0);
  ff.zero_grad();
  ff.backward(cache, r, dx);
  CHECK(max_rel_error(x, dx, loss) < 1e-6);
  CHECK(max_rel_error(ff.fc1().weight().value, ff.fc1().weight().grad, loss) < 1e-6);
  CHECK(max_rel_error(ff.fc2().bias().value, ff.fc2().bias().grad, loss) < 1e-6);
  // inference never draws
  MatD a, b;
  ff.forward(x, a);
  ff.forward(x, b);
  CHECK(a == b);
  config.fc2_name = config.fc1_name;
  REQUIRE_THROWS_WITH(nn::FeedForward<double>(config), Contains("expected two distinct, non-empty parameter names"));
}

TEST_CASE("Embedding's tied head scores with the same table, and both uses add into its gradient",
          "[nn][embedding][tied][grad]") {
  elm::Rng rng(21);
  nn::Embedding<double> table(9, 4, rng);
  const std::vector<Index> ids{3, 1, 3, 8, 0};
  const MatD r = random_matrix(9, 5, rng);
  // loss = <r, E^T tanh(E[ids])>: the table is used twice, as GPT-2 uses wte for its input and its lm_head
  auto loss = [&] {
    MatD e, h, logits;
    table.forward(ids, e);
    h = e.array().tanh().matrix();
    table.project(h, logits);
    return project(logits, r);
  };
  nn::Embedding<double>::Cache lookup;
  nn::Embedding<double>::ProjectionCache head;
  MatD e, h, logits, dh;
  table.forward(ids, e, &lookup);
  h = e.array().tanh().matrix();
  table.project(h, logits, &head);
  // the head is nn.Linear(C, V, bias=False) whose weight is the table
  nn::Linear<double> untied(4, 9, false);
  untied.weight().value = table.weight().value;
  MatD linear_logits;
  untied.forward(h, linear_logits);
  CHECK((logits - linear_logits).cwiseAbs().maxCoeff() < 1e-14);
  table.zero_grad();
  table.project_backward(head, r, dh);
  const MatD de = dh.cwiseProduct((1.0 - h.array().square()).matrix());
  table.backward(lookup, de);
  CHECK(max_rel_error(table.weight().value, table.weight().grad, loss) < 1e-6);
  REQUIRE_THROWS_WITH(table.project_backward(head, MatD::Zero(8, 5), dh), Contains("dlogits"));
}
