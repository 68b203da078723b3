// SPDX-License-Identifier: MIT
// Hand-sized values, gradient checks and bad input for the losses.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "elm/nn/loss.hpp"
#include "gradcheck.hpp"

namespace nn = elm::nn;
using Catch::Matchers::WithinAbs;
using elm::Index;
using elm_test::MatD;
using elm_test::max_rel_error;
using elm_test::random_matrix;

TEST_CASE("cross_entropy by hand: uniform logits give log V", "[nn][loss]") {
  MatD logits = MatD::Zero(4, 2);
  MatD d;
  // Two targets, V = 4, equal logits: -log(1/4) each, mean log 4; gradient 1/4 - onehot, halved by the mean.
  const double loss = nn::cross_entropy<double>(logits, {1, 3}, {}, &d);
  CHECK_THAT(loss, WithinAbs(std::log(4.0), 1e-15));
  CHECK_THAT(d(1, 0), WithinAbs((0.25 - 1.0) / 2, 1e-15));
  CHECK_THAT(d(0, 0), WithinAbs(0.25 / 2, 1e-15));
  // Ignored targets leave a zero column and do not count in the mean.
  const double ignored = nn::cross_entropy<double>(logits, {1, -100}, {}, &d);
  CHECK_THAT(ignored, WithinAbs(std::log(4.0), 1e-15));
  CHECK(d.col(1).isZero());
  CHECK(nn::cross_entropy<double>(logits, {-100, -100}, {}, &d) == 0.0);
  // Label smoothing 0.2 with uniform logits changes nothing: every log p is -log 4.
  nn::CrossEntropyOptions smooth;
  smooth.label_smoothing = 0.2;
  CHECK_THAT(nn::cross_entropy<double>(logits, {1, 3}, smooth), WithinAbs(std::log(4.0), 1e-15));
}

TEST_CASE("Loss gradients match central differences", "[nn][loss][gradcheck]") {
  elm::Rng rng(GENERATE(1u, 2u, 3u));
  // Unit-scale logits keep every probability above ~1e-2, so no gradient entry is small enough for the
  // loss's rounding (~1e-16 |L| / h) to dominate its central difference.
  MatD logits = random_matrix(6, 5, rng);
  const std::vector<Index> targets{0, 5, -100, 2, 2};
  // s / V stays below every probability here, so no entry of p - s / V cancels to near zero.
  for (const double s : {0.0, 0.05}) {
    nn::CrossEntropyOptions options;
    options.label_smoothing = s;
    MatD d;
    nn::cross_entropy<double>(logits, targets, options, &d);
    CHECK(max_rel_error(logits, d, [&] { return nn::cross_entropy<double>(logits, targets, options); }) < 1e-6);
  }
  MatD z = MatD::Random(6, 5).cwiseAbs();
  MatD d;
  nn::bce_with_logits<double>(logits, z, nn::Reduction::mean, &d);
  CHECK(max_rel_error(logits, d, [&] { return nn::bce_with_logits<double>(logits, z); }) < 1e-6);
  nn::mse<double>(logits, z, nn::Reduction::sum, &d);
  CHECK(max_rel_error(logits, d, [&] { return nn::mse<double>(logits, z, nn::Reduction::sum); }) < 1e-6);
  MatD mu = random_matrix(3, 4, rng), lv = random_matrix(3, 4, rng, 0.5), mp = random_matrix(3, 4, rng),
       lp = random_matrix(3, 4, rng, 0.3);
  // Prior variances about e^1.5 times the posterior's keep d/dlogvar_q = (var_q / var_p - 1) / 2 away from 0.
  lp.array() += 1.5;
  MatD g1, g2, g3, g4;
  nn::GaussianKlGrads<double> grads{&g1, &g2, &g3, &g4};
  auto kl = [&] { return nn::gaussian_kl<double>(mu, lv, mp, lp); };
  nn::gaussian_kl<double>(mu, lv, mp, lp, nn::Reduction::mean, grads);
  CHECK(max_rel_error(mu, g1, kl) < 1e-6);
  CHECK(max_rel_error(lv, g2, kl) < 1e-6);
  CHECK(max_rel_error(mp, g3, kl) < 1e-6);
  CHECK(max_rel_error(lp, g4, kl) < 1e-6);
}

TEST_CASE("gaussian_kl against N(0, I) by hand", "[nn][loss]") {
  MatD mu(1, 2), lv(1, 2);
  mu << 1, 0;
  lv << 0, std::log(2.0);
  // Column 0: -1/2 (1 + 0 - 1 - 1) = 0.5; column 1: -1/2 (1 + ln 2 - 0 - 2) = 0.5 - ln2 / 2. Mean of the two.
  const double expected = (0.5 + 0.5 - std::log(2.0) / 2) / 2;
  CHECK_THAT(nn::gaussian_kl<double>(mu, lv), WithinAbs(expected, 1e-15));
  CHECK(nn::gaussian_kl<double>(MatD::Zero(3, 2), MatD::Zero(3, 2)) == 0.0);
}

TEST_CASE("Losses reject bad shapes and targets", "[nn][loss][bad-input]") {
  MatD logits = MatD::Zero(4, 2);
  REQUIRE_THROWS_MATCHES(nn::cross_entropy<double>(logits, {1}), elm::ShapeError,
                         elm_test::MessageContains("expected one per column of logits (2)"));
  REQUIRE_THROWS_MATCHES(nn::cross_entropy<double>(logits, {1, 4}), elm::RangeError,
                         elm_test::MessageContains("target = 4 is out of range"));
  nn::CrossEntropyOptions bad;
  bad.label_smoothing = 1.5;
  REQUIRE_THROWS_AS(nn::cross_entropy<double>(logits, {1, 2}, bad), elm::InvalidArgument);
  REQUIRE_THROWS_AS(nn::bce_with_logits<double>(logits, MatD::Zero(2, 4)), elm::ShapeError);
  REQUIRE_THROWS_AS(nn::mse<double>(logits, MatD::Zero(4, 3)), elm::ShapeError);
  REQUIRE_THROWS_AS(nn::gaussian_kl<double>(logits, MatD::Zero(4, 3)), elm::ShapeError);
}
