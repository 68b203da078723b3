// SPDX-License-Identifier: MIT
// A generative adversarial network's two alternating training steps (Goodfellow et al. 2014): the discriminator's
// binary cross-entropy on real and generated samples, and the generator's non-saturating loss.
#pragma once

#include <cmath>
#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/loss.hpp"

namespace elm::models {

/// What a discriminator step measured: its loss and the mean probability D gave the real and the generated samples.
struct DiscriminatorStep {
  double loss = 0.0;              ///< -mean log D(x) - mean log(1 - D(G(z)))
  double real_probability = 0.0;  ///< mean D(x): 1 when D is sure every real sample is real
  double fake_probability = 0.0;  ///< mean D(G(z)): 0 when D is sure every generated sample is generated
};

/// What a generator step measured: its loss and the mean probability D gave its samples.
struct GeneratorStep {
  double loss = 0.0;              ///< -mean log D(G(z)), the non-saturating loss
  double fake_probability = 0.0;  ///< mean D(G(z))
};

namespace detail {

template <typename Generator, typename Discriminator>
constexpr void check_gan_types() {
  static_assert(nn::is_matrix_layer_v<Generator> && nn::is_matrix_layer_v<Discriminator>,
                "a GAN's generator and discriminator keep the matrix-layer contract (elm/nn/layer.hpp)");
  static_assert(std::is_same_v<typename Generator::scalar_type, typename Discriminator::scalar_type>,
                "a GAN's generator and discriminator have the same Scalar");
}

// D's logits on a batch: one row, one column per sample.
template <typename Scalar>
void check_logits(const Matrix<Scalar>& logits, Index samples, std::string_view where, std::string_view what) {
  ELM_EXPECT(logits.rows() == 1 && logits.cols() == samples, ShapeError, where, ": the discriminator's output on ",
             what, " is ", logits.rows(), "x", logits.cols(), ", expected one logit per sample (1x", samples, ")");
}

template <typename Scalar>
double mean_probability(const Matrix<Scalar>& logits) {
  double total = 0.0;
  for (Index j = 0; j < logits.cols(); ++j) {
    const double x = static_cast<double>(logits(0, j));
    total += x >= 0.0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
  }
  return logits.cols() > 0 ? total / static_cast<double>(logits.cols()) : 0.0;
}

}  // namespace detail

/// The discriminator's step of a GAN: D, which outputs a logit per sample, is trained to call the data real and
/// the generator's samples fake:
///   loss = BCE(D(x), 1) + BCE(D(G(z)), 0) = -mean_n log sigmoid(D(x_n)) - mean_m log(1 - sigmoid(D(G(z_m)))).
/// Adds d loss / d D's parameters into D's gradients (the caller zeros them first and steps D's optimizer after);
/// G runs forward only and its gradients are untouched. real: (D_in, N) data samples, noise: (Z, M) -> G(noise):
/// (D_in, M); D's outputs (1, N) and (1, M). Throws ShapeError when D's output is not one logit per sample (and
/// what the layers throw for inputs of the wrong width), InvalidArgument for an empty batch.
template <typename Generator, typename Discriminator>
DiscriminatorStep discriminator_loss_and_backward(const Generator& generator, Discriminator& discriminator,
                                                  const Eigen::Ref<const Matrix<typename Generator::scalar_type>>& real,
                                                  const Eigen::Ref<const Matrix<typename Generator::scalar_type>>& noise,
                                                  const nn::ForwardContext& context = nn::ForwardContext::train_deterministic()) {
  detail::check_gan_types<Generator, Discriminator>();
  using Scalar = typename Generator::scalar_type;
  constexpr std::string_view where = "elm::models::discriminator_loss_and_backward";
  ELM_EXPECT(real.cols() > 0 && noise.cols() > 0, InvalidArgument, where, ": expected real and noise samples, got ",
             real.cols(), " and ", noise.cols());
  Matrix<Scalar> fake, logits, dlogits, dx;
  generator.forward(noise, fake, nullptr, context);
  DiscriminatorStep step;
  // 1) real samples, target 1
  typename Discriminator::Cache cache;
  discriminator.forward(real, logits, &cache, context);
  detail::check_logits(logits, real.cols(), where, "the real samples");
  step.loss += static_cast<double>(
      nn::bce_with_logits<Scalar>(logits, Matrix<Scalar>::Ones(1, real.cols()), nn::Reduction::mean, &dlogits));
  step.real_probability = detail::mean_probability(logits);
  discriminator.backward(cache, dlogits, dx);
  // 2) generated samples, target 0
  discriminator.forward(fake, logits, &cache, context);
  detail::check_logits(logits, noise.cols(), where, "the generated samples");
  step.loss += static_cast<double>(
      nn::bce_with_logits<Scalar>(logits, Matrix<Scalar>::Zero(1, noise.cols()), nn::Reduction::mean, &dlogits));
  step.fake_probability = detail::mean_probability(logits);
  discriminator.backward(cache, dlogits, dx);
  return step;
}

/// The generator's step of a GAN with the non-saturating loss (Goodfellow et al. 2014, section 3): G is trained to
/// make D call its samples real, loss = BCE(D(G(z)), 1) = -mean_m log sigmoid(D(G(z_m))), whose gradient stays
/// large while D rejects G's samples (the minimax form log(1 - D(G(z))) saturates there).
/// Adds d loss / d G's parameters into G's gradients (the caller zeros them first and steps G's optimizer after).
/// The gradient reaches G through D, so D's gradients receive d loss / d D too: zero them before D's next step.
/// noise: (Z, M) -> G(noise): (D_in, M) -> D: (1, M). Throws as discriminator_loss_and_backward.
template <typename Generator, typename Discriminator>
GeneratorStep generator_loss_and_backward(Generator& generator, Discriminator& discriminator,
                                          const Eigen::Ref<const Matrix<typename Generator::scalar_type>>& noise,
                                          const nn::ForwardContext& context = nn::ForwardContext::train_deterministic()) {
  detail::check_gan_types<Generator, Discriminator>();
  using Scalar = typename Generator::scalar_type;
  constexpr std::string_view where = "elm::models::generator_loss_and_backward";
  ELM_EXPECT(noise.cols() > 0, InvalidArgument, where, ": expected noise samples, got none");
  typename Generator::Cache generator_cache;
  typename Discriminator::Cache discriminator_cache;
  Matrix<Scalar> fake, logits, dlogits, dfake, dnoise;
  generator.forward(noise, fake, &generator_cache, context);
  discriminator.forward(fake, logits, &discriminator_cache, context);
  detail::check_logits(logits, noise.cols(), where, "the generated samples");
  GeneratorStep step;
  step.loss = static_cast<double>(
      nn::bce_with_logits<Scalar>(logits, Matrix<Scalar>::Ones(1, noise.cols()), nn::Reduction::mean, &dlogits));
  step.fake_probability = detail::mean_probability(logits);
  discriminator.backward(discriminator_cache, dlogits, dfake);
  generator.backward(generator_cache, dfake, dnoise);
  return step;
}

}  // namespace elm::models
