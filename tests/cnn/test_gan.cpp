// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "cnn_fixture.hpp"
#include "elm/core/rng.hpp"
#include "elm/models/gan.hpp"
#include "elm/models/mode_coverage.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adam.hpp"
#include "elm/nn/sequential.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
namespace nn = elm::nn;

namespace {

template <typename Scalar>
using Mlp = nn::Sequential<nn::Linear<Scalar>, nn::Activation<Scalar>, nn::Linear<Scalar>>;

template <typename Scalar>
Mlp<Scalar> mlp(Index in, Index hidden, Index out, elm::Rng& rng) {
  return Mlp<Scalar>(nn::Linear<Scalar>(in, hidden, rng), nn::Activation<Scalar>(nn::ActivationKind::tanh),
                     nn::Linear<Scalar>(hidden, out, rng));
}

// The losses the two steps minimise, from forward passes alone: the references of the gradient checks.
double discriminator_loss(const Mlp<double>& g, const Mlp<double>& d, const Matrix<double>& real,
                          const Matrix<double>& noise) {
  Matrix<double> fake, real_logits, fake_logits;
  g.forward(noise, fake);
  d.forward(real, real_logits);
  d.forward(fake, fake_logits);
  return nn::bce_with_logits<double>(real_logits, Matrix<double>::Ones(1, real.cols())) +
         nn::bce_with_logits<double>(fake_logits, Matrix<double>::Zero(1, noise.cols()));
}

double generator_loss(const Mlp<double>& g, const Mlp<double>& d, const Matrix<double>& noise) {
  Matrix<double> fake, logits;
  g.forward(noise, fake);
  d.forward(fake, logits);
  double loss = 0.0;  // -mean log sigmoid(logit), written out rather than through bce_with_logits
  for (Index j = 0; j < logits.cols(); ++j) loss += std::log1p(std::exp(-logits(0, j)));
  return loss / double(logits.cols());
}

}  // namespace

TEST_CASE("mode_coverage counts samples within the radius of their nearest mode", "[cnn][gan]") {
  const Matrix<double> centres = elm::models::ring_centres(4, 1.0);  // (1, 0), (0, 1), (-1, 0), (0, -1)
  CHECK_THAT(centres(0, 1), WithinAbs(0.0, 1e-15));
  CHECK_THAT(centres(1, 1), WithinAbs(1.0, 1e-15));
  CHECK_THAT(centres(0, 2), WithinAbs(-1.0, 1e-15));
  CHECK_THAT(centres(1, 3), WithinAbs(-1.0, 1e-15));
  Matrix<float> points(2, 7);
  points << 1.05f, 0.98f, 0.0f, 0.6f, -1.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(),  //
      0.0f, 0.02f, 0.95f, 0.3f, 0.09f, 0.11f, 0.0f;
  // mode 0: two points; mode 1: one; (0.6, 0.3) is 0.5 from mode 0, nearest; (-1, 0.09) is in, (-1, 0.11) is out;
  // mode 3: none; NaN: nowhere
  const auto c = elm::models::mode_coverage<float>(points, centres, 0.1);
  REQUIRE(c.counts.size() == 4);
  CHECK(c.counts[0] == 2);
  CHECK(c.counts[1] == 1);
  CHECK(c.counts[2] == 1);
  CHECK(c.counts[3] == 0);
  CHECK(c.samples == 7);
  CHECK(c.within == 4);
  CHECK(c.covered == 3);
  CHECK_THAT(c.fraction_within(), WithinAbs(4.0 / 7.0, 1e-12));
  CHECK(elm::models::mode_coverage<float>(points, centres, 0.1, 2).covered == 1);
  // with radius 1.5, (0.6, 0.3) is within 0.92 of mode 1 too but counts once, for its nearest, mode 0
  const auto wide = elm::models::mode_coverage<float>(points, centres, 1.5);
  CHECK(wide.within == 6);
  CHECK(wide.counts[0] == 3);
  CHECK(wide.counts[1] == 1);
}

TEST_CASE("mode_coverage and ring_centres refuse bad input", "[cnn][gan]") {
  const Matrix<double> centres = elm::models::ring_centres(8, 2.0);
  CHECK_THAT(error_message<elm::ShapeError>([&] { elm::models::mode_coverage<float>(Matrix<float>::Zero(3, 5), centres, 0.1); }),
             Contains("points") && Contains("expected"));
  CHECK_THROWS_AS(elm::models::mode_coverage<float>(Matrix<float>::Zero(2, 5), centres, 0.0), elm::InvalidArgument);
  CHECK_THROWS_AS(elm::models::mode_coverage<float>(Matrix<float>::Zero(2, 5), centres, 0.1, 0), elm::InvalidArgument);
  CHECK_THROWS_AS(elm::models::mode_coverage<float>(Matrix<float>::Zero(2, 5), Matrix<double>(2, 0), 0.1),
                  elm::InvalidArgument);
  CHECK_THROWS_AS(elm::models::ring_centres(0, 1.0), elm::InvalidArgument);
  CHECK(elm::models::mode_coverage<float>(Matrix<float>(2, 0), centres, 0.1).fraction_within() == 0.0);
}

TEST_CASE("The GAN steps' gradients agree with central differences (double)", "[cnn][gan]") {
  elm::Rng rng(5);
  Mlp<double> g = mlp<double>(2, 4, 3, rng);
  Mlp<double> d = mlp<double>(3, 5, 1, rng);
  const Matrix<double> real = random_matrix(rng, 3, 6), noise = random_matrix(rng, 2, 4);
  SECTION("discriminator step: D's gradients, G's untouched") {
    g.zero_grad();
    d.zero_grad();
    const auto step = elm::models::discriminator_loss_and_backward(g, d, real, noise);
    CHECK_THAT(step.loss, WithinAbs(discriminator_loss(g, d, real, noise), 1e-12));
    CHECK(step.real_probability > 0.0);
    CHECK(step.fake_probability < 1.0);
    d.for_each_parameter("", [&](const std::string& name, nn::Parameter<double>& p) {
      check_gradient("D." + name, p.value, [&] { return discriminator_loss(g, d, real, noise); }, p.grad);
    });
    g.for_each_parameter("", [&](const std::string&, nn::Parameter<double>& p) { CHECK(p.grad.isZero(0.0)); });
  }
  SECTION("generator step: the non-saturating loss's gradient reaches G through D") {
    g.zero_grad();
    const auto step = elm::models::generator_loss_and_backward(g, d, noise);
    CHECK_THAT(step.loss, WithinAbs(generator_loss(g, d, noise), 1e-12));
    g.for_each_parameter("", [&](const std::string& name, nn::Parameter<double>& p) {
      check_gradient("G." + name, p.value, [&] { return generator_loss(g, d, noise); }, p.grad);
    });
  }
}

TEST_CASE("Alternating GAN steps move a 1-D generator's samples onto the data", "[cnn][gan]") {
  // Data N(3, 0.5^2); G(z) = a z + b starts near N(0, small); D a small tanh MLP. Adam with DCGAN's betas.
  elm::Rng rng(11);
  Mlp<float> g = mlp<float>(1, 8, 1, rng);
  Mlp<float> d = mlp<float>(1, 16, 1, rng);
  nn::Adam<float> g_opt({0.01, 0.5, 0.999, 1e-8, 0.0, false}), d_opt({0.01, 0.5, 0.999, 1e-8, 0.0, false});
  const auto normal = [&](Index n, double mean, double sd) {
    Matrix<float> m(1, n);
    rng.fill_normal(m, mean, sd);
    return m;
  };
  const auto sample_mean = [&] {
    Matrix<float> fake;
    g.forward(normal(2000, 0.0, 1.0), fake);
    return double(fake.mean());
  };
  const double before = sample_mean();
  // GAN training oscillates around the equilibrium: after 200 steps, the generated mean is read every 20 steps
  double worst = 0.0, average = 0.0;
  int reads = 0;
  for (int step = 1; step <= 600; ++step) {
    d.zero_grad();
    elm::models::discriminator_loss_and_backward(g, d, normal(64, 3.0, 0.5), normal(64, 0.0, 1.0));
    d_opt.step(d);
    g.zero_grad();
    elm::models::generator_loss_and_backward(g, d, normal(64, 0.0, 1.0));
    g_opt.step(g);
    if (step > 200 && step % 20 == 0) {
      const double mean = sample_mean();
      worst = std::max(worst, std::abs(mean - 3.0));
      average += mean;
      ++reads;
    }
  }
  average /= reads;
  INFO("generated mean " << before << " before; after step 200, " << average << " on average, at most " << worst
                         << " from the data's mean 3");
  CHECK(std::abs(before - 3.0) > 2.0);
  CHECK(worst < 1.5);
  CHECK(std::abs(average - 3.0) < 0.25);
}

TEST_CASE("The GAN steps refuse a discriminator without one logit per sample", "[cnn][gan]") {
  elm::Rng rng(2);
  Mlp<float> g = mlp<float>(2, 4, 3, rng);
  Mlp<float> two_logits = mlp<float>(3, 4, 2, rng);
  Mlp<float> d = mlp<float>(3, 4, 1, rng);
  const Matrix<float> real = Matrix<float>::Zero(3, 5), noise = Matrix<float>::Zero(2, 5);
  CHECK_THAT(error_message<elm::ShapeError>([&] { elm::models::discriminator_loss_and_backward(g, two_logits, real, noise); }),
             Contains("one logit per sample") && Contains("2x5"));
  CHECK_THROWS_AS(elm::models::generator_loss_and_backward(g, two_logits, noise), elm::ShapeError);
  CHECK_THROWS_AS(elm::models::discriminator_loss_and_backward(g, d, Matrix<float>::Zero(4, 5), noise), elm::ShapeError);
  CHECK_THROWS_AS(elm::models::discriminator_loss_and_backward(g, d, Matrix<float>(3, 0), noise), elm::InvalidArgument);
  CHECK_THROWS_AS(elm::models::generator_loss_and_backward(g, d, Matrix<float>(2, 0)), elm::InvalidArgument);
}
