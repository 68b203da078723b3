// SPDX-License-Identifier: MIT
// Optimizers, clipping and schedules: 10-step parity with torch.optim, hand values, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "elm/nn/activations.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adam.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/clip.hpp"
#include "elm/nn/optim/schedule.hpp"
#include "elm/nn/optim/sgd.hpp"
#include "elm/nn/sequential.hpp"
#include "fixtures.hpp"
#include "gradcheck.hpp"

namespace nn = elm::nn;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using elm_test::Fixture;
using elm_test::parity_error;
using MatF = elm::Matrix<float>;

namespace {

using Mlp = nn::Sequential<nn::Linear<float>, nn::Activation<float>, nn::Linear<float>>;

// PyTorch's Sequential(Linear(8, 6), Tanh(), Linear(6, 5)) with the fixture's initial parameters.
Mlp make_mlp(const Fixture& f) {
  Mlp mlp(nn::Linear<float>(8, 6), nn::Activation<float>(nn::ActivationKind::tanh), nn::Linear<float>(6, 5));
  mlp.for_each_parameter("", [&](const std::string& name, nn::Parameter<float>& p) { p.value = f.matrix("init." + name); });
  return mlp;
}

float loss_and_grad(Mlp& mlp, const MatF& x, const std::vector<elm::Index>& targets) {
  Mlp::Cache cache;
  MatF logits, dlogits, dx;
  mlp.forward(x, logits, &cache);
  const float loss = nn::cross_entropy<float>(logits, targets, {}, &dlogits);
  mlp.zero_grad();
  mlp.backward(cache, dlogits, dx);
  return loss;
}

template <typename Optimizer>
void check_ten_steps(const Fixture& f, const std::string& tag, Optimizer opt) {
  INFO(tag);
  Mlp mlp = make_mlp(f);
  const MatF x = f.matrix("x");
  const auto targets = f["targets"].ids();
  const MatF ref_losses = f.matrix<double>(tag + ".losses").cast<float>();
  for (int s = 0; s < 10; ++s) {
    const float loss = loss_and_grad(mlp, x, targets);
    CHECK_THAT(double(loss), WithinRel(double(ref_losses(s)), 1e-5));
    opt.step(mlp);
  }
  CHECK(opt.steps() == 10);
  // After 10 updates the parameters still agree within 1e-5 of their scale (float32 on both sides).
  mlp.for_each_parameter("", [&](const std::string& name, nn::Parameter<float>& p) {
    CHECK(parity_error(tag + "." + name, p.value, f.matrix(tag + "." + name)) < 1e-5);
  });
}

}  // namespace

TEST_CASE("Ten optimizer steps match torch.optim", "[nn][optim][parity]") {
  Fixture f("optim.txt");
  check_ten_steps(f, "sgd", nn::Sgd<float>({0.1, 0.9, 0.0, 0.01, false}));
  check_ten_steps(f, "sgd_nesterov", nn::Sgd<float>({0.1, 0.9, 0.0, 0.0, true}));
  check_ten_steps(f, "adam", nn::Adam<float>({0.01, 0.9, 0.99, 1e-8, 0.01, false}));
  check_ten_steps(f, "adamw", nn::AdamW<float>({0.01, 0.9, 0.95, 1e-8, 0.1}));
}

TEST_CASE("clip_grad_norm matches torch.nn.utils.clip_grad_norm_", "[nn][optim][clip][parity]") {
  Fixture f("optim.txt");
  Mlp mlp = make_mlp(f);
  loss_and_grad(mlp, f.matrix("x"), f["targets"].ids());
  const double norm = nn::clip_grad_norm(mlp, 0.05);
  CHECK_THAT(norm, WithinRel(f["clip.norm"].scalar(), 1e-5));
  CHECK(parity_error("clip.0.weight", mlp.layer<0>().weight().grad, f.matrix("clip.0.weight")) < 1e-5);
  CHECK_THAT(nn::grad_norm(mlp), WithinRel(0.05, 1e-4));  // 0.05 norm / (norm + 1e-6)
}

TEST_CASE("Adam's first step moves each weight by lr against its gradient's sign", "[nn][optim]") {
  // With m = (1 - b1) g and v = (1 - b2) g^2 after one step, the bias corrections give m^ = g, v^ = g^2, so the
  // update is lr g / (|g| + eps) ~ lr sign(g).
  nn::Linear<double> layer(2, 1);
  layer.weight().gradient() << 0.5, -3.0;
  layer.bias().gradient() << 0.0;
  nn::Adam<double> adam({0.1, 0.9, 0.999, 1e-8, 0.0, false});
  adam.step(layer);
  CHECK_THAT(layer.weight().value(0, 0), WithinAbs(-0.1, 1e-7));
  CHECK_THAT(layer.weight().value(1, 0), WithinAbs(0.1, 1e-7));
  CHECK(layer.bias().value(0, 0) == 0.0);
  // AdamW's decay multiplies the weights by 1 - lr wd before the update, even with a zero gradient.
  nn::Linear<double> decayed(1, 1, false);
  decayed.weight().value << 2.0;
  nn::AdamW<double> adamw({0.1, 0.9, 0.999, 1e-8, 0.5});
  adamw.step(decayed);
  CHECK_THAT(decayed.weight().value(0, 0), WithinAbs(2.0 * (1 - 0.1 * 0.5), 1e-12));
  // Frozen parameters are skipped.
  decayed.weight().trainable = false;
  adamw.step(decayed);
  CHECK_THAT(decayed.weight().value(0, 0), WithinAbs(1.9, 1e-12));
}

TEST_CASE("Learning-rate schedules by hand", "[nn][optim][schedule]") {
  const auto s = nn::LrSchedule::warmup_cosine(1.0, 4, 14, 0.1);
  CHECK(s(0) == 0.25);  // (0 + 1) / 4
  CHECK(s(3) == 1.0);
  CHECK(s(4) == 1.0);   // cosine starts at the peak
  CHECK_THAT(s(9), WithinAbs(0.1 + 0.9 * 0.5, 1e-12));  // half way: cos(pi / 2) = 0
  CHECK(s(14) == 0.1);
  CHECK(s(100) == 0.1);
  CHECK(s.warmup_steps() == 4);
  CHECK(s.total_steps() == 14);
  const auto linear = nn::LrSchedule::warmup_linear(1.0, 4, 14, 0.1);
  CHECK(linear(0) == 0.25);  // the same warmup
  CHECK(linear(4) == 1.0);
  CHECK_THAT(linear(9), WithinAbs(0.1 + 0.9 * 0.5, 1e-12));   // half way down the line
  CHECK_THAT(linear(13), WithinAbs(0.1 + 0.9 * 0.1, 1e-12));  // one step of ten before the end
  CHECK(linear(14) == 0.1);
  CHECK(linear(100) == 0.1);
  CHECK(nn::LrSchedule::constant(0.3)(7) == 0.3);
  REQUIRE_THROWS_AS(nn::LrSchedule::warmup_cosine(1.0, 5, 5), elm::InvalidArgument);
  REQUIRE_THROWS_AS(nn::LrSchedule::warmup_linear(1.0, -1, 5), elm::InvalidArgument);
  REQUIRE_THROWS_AS(nn::LrSchedule::warmup_cosine(0.1, 1, 5, 0.2), elm::InvalidArgument);
}

TEST_CASE("Optimizers reject bad settings", "[nn][optim][bad-input]") {
  REQUIRE_THROWS_MATCHES(nn::Sgd<float>({-0.1}), elm::InvalidArgument, elm_test::MessageContains("expected lr >= 0"));
  REQUIRE_THROWS_AS(nn::Sgd<float>({0.1, 0.0, 0.0, 0.0, true}), elm::InvalidArgument);
  REQUIRE_THROWS_MATCHES(nn::Adam<float>({0.1, 1.0}), elm::InvalidArgument,
                         elm_test::MessageContains("expected 0 <= beta1 < 1, got 1"));
  nn::Linear<float> layer(2, 2);
  REQUIRE_THROWS_AS(nn::clip_grad_norm(layer, 0.0), elm::InvalidArgument);
}
