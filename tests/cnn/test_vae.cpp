// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "cnn_fixture.hpp"
#include "elm/models/autoencoder.hpp"
#include "elm/models/vae.hpp"
#include "elm/nn/loss.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::models::Autoencoder;
using elm::models::Vae;

namespace {

// Pixels in [0, 1], as the digits are.
Matrix<double> random_pixels(elm::Rng& rng, Index rows, Index cols) {
  Matrix<double> x(rows, cols);
  rng.fill_uniform(x, 0.0, 1.0);
  return x;
}

// Every trainable parameter's analytic gradient against central differences of `loss`.
template <typename Model, typename Loss>
int check_parameter_gradients(Model& model, const Loss& loss) {
  int checked = 0;
  model.for_each_parameter("", [&](const std::string& name, elm::nn::Parameter<double>& p) {
    const Matrix<double> analytic = p.gradient();
    check_gradient(name, p.value, loss, analytic);
    ++checked;
  });
  return checked;
}

}  // namespace

TEST_CASE("reparameterize: z = mu + exp(logvar / 2) eps and its gradient against central differences",
          "[cnn][vae]") {
  elm::Rng rng(3);
  Matrix<double> mu = random_matrix(rng, 3, 4), logvar = random_matrix(rng, 3, 4);
  const Matrix<double> eps = random_matrix(rng, 3, 4), r = random_matrix(rng, 3, 4);
  Matrix<double> z;
  elm::models::reparameterize<double>(mu, logvar, eps, z);
  CHECK_THAT(z(1, 2), Catch::Matchers::WithinAbs(mu(1, 2) + std::exp(logvar(1, 2) / 2) * eps(1, 2), 1e-15));
  Matrix<double> dmu, dlogvar;
  elm::models::reparameterize_backward<double>(logvar, eps, r, dmu, dlogvar);
  const auto loss = [&] {
    Matrix<double> out;
    elm::models::reparameterize<double>(mu, logvar, eps, out);
    return out.cwiseProduct(r).sum();
  };
  check_gradient("mu", mu, loss, dmu);
  check_gradient("logvar", logvar, loss, dlogvar);
  CHECK_THAT(error_message<elm::ShapeError>(
                 [&] { elm::models::reparameterize<double>(mu, logvar, Matrix<double>::Zero(2, 4), z); }),
             Contains("eps is 2x4, expected 3x4"));
}

TEST_CASE("The analytic KL to N(0, I) equals the Monte Carlo mean of log q(z) - log p(z) over reparameterised z",
          "[cnn][vae]") {
  // q = N(mu, diag(exp(logvar))), z = mu + sigma eps: log q(z) - log p(z) = sum_d (z^2 - eps^2 - logvar) / 2 (the
  // 2 pi terms cancel), an estimate written from the densities, not from the KL's closed form
  Matrix<double> mu(3, 1), logvar(3, 1);
  mu << 0.8, -1.5, 0.1;
  logvar << -1.2, 0.4, 0.0;
  const double analytic = elm::nn::gaussian_kl<double>(mu, logvar, elm::nn::Reduction::sum);
  elm::Rng rng(11);
  const Index n = 100000;
  const Matrix<double> eps = random_matrix(rng, 3, n);
  Matrix<double> z;
  elm::models::reparameterize<double>(mu.replicate(1, n), logvar.replicate(1, n), eps, z);
  const Eigen::ArrayXd terms =
      (0.5 * (z.array().square() - eps.array().square()).colwise().sum()).transpose() - 0.5 * logvar.sum();
  const double mean = terms.mean();
  const double standard_error = std::sqrt((terms - mean).square().sum() / double(n - 1) / double(n));
  INFO("analytic " << analytic << ", Monte Carlo " << mean << " +- " << standard_error);
  CHECK(std::abs(mean - analytic) < 4 * standard_error);
  CHECK(standard_error < 0.01);
}

TEST_CASE("Vae: the negative ELBO's terms by hand and every parameter's gradient against central differences",
          "[cnn][vae]") {
  elm::Rng rng(5);
  Vae<double> model({5, 4, 3}, rng);
  const Index B = 3;
  const Matrix<double> x = random_pixels(rng, 5, B), eps = random_matrix(rng, 3, B);

  // the terms, recomputed from the encoder's and decoder's outputs
  Vae<double>::Cache cache;
  const elm::models::VaeLoss terms = model.loss(x, eps, &cache);
  Matrix<double> mu, logvar, probabilities, z;
  model.encode(x, mu, logvar);
  elm::models::reparameterize<double>(mu, logvar, eps, z);
  model.decode(z, probabilities);
  const double reconstruction =
      -(x.array() * probabilities.array().log() + (1 - x.array()) * (1 - probabilities.array()).log()).sum();
  const double kl = 0.5 * (mu.array().square() + logvar.array().exp() - logvar.array() - 1).sum();
  CHECK_THAT(terms.reconstruction, Catch::Matchers::WithinRel(reconstruction, 1e-12));
  CHECK_THAT(terms.kl, Catch::Matchers::WithinRel(kl, 1e-12));
  CHECK(terms.total() == terms.reconstruction + terms.kl);

  // the gradient of the summed negative ELBO at this eps: decoder, reparameterisation, KL and encoder together
  model.zero_grad();
  model.backward(cache);
  CHECK(check_parameter_gradients(model, [&] { return model.loss(x, eps).total(); }) == 8);

  CHECK_THAT(error_message<elm::ShapeError>([&] { model.loss(x, Matrix<double>::Zero(2, B)); }),
             Contains("Vae::loss: eps is 2x3, expected 3x3"));
  CHECK_THAT(error_message<elm::ShapeError>([&] { model.loss(Matrix<double>::Zero(4, B), eps); }),
             Contains("Vae::loss: x is 4x3, expected 5x"));
  CHECK_THROWS_AS(Vae<double>({5, 4, 0}), elm::InvalidArgument);
}

TEST_CASE("Autoencoder: every parameter's gradient against central differences", "[cnn][vae]") {
  elm::Rng rng(9);
  Autoencoder<double> model({5, 4, 2}, rng);
  const Matrix<double> x = random_pixels(rng, 5, 3);
  Autoencoder<double>::Cache cache;
  Matrix<double> x_hat, d;
  model.forward(x, x_hat, &cache);
  elm::nn::mse<double>(x_hat, x, elm::nn::Reduction::sum, &d);
  model.zero_grad();
  model.backward(cache, d);
  const auto loss = [&] {
    Matrix<double> out;
    model.forward(x, out);
    return elm::nn::mse<double>(out, x, elm::nn::Reduction::sum);
  };
  CHECK(check_parameter_gradients(model, loss) == 8);
  Matrix<double> code;
  model.encode(x, code);
  CHECK(code.rows() == 2);
  CHECK_THROWS_AS(Autoencoder<double>({0, 4, 2}), elm::InvalidArgument);
}
