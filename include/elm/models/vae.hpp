// SPDX-License-Identifier: MIT
// Vae: a variational autoencoder (Gaussian encoder, Bernoulli decoder), its negative ELBO and the gradient of it.
#pragma once

#include <cmath>
#include <string_view>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/autoencoder.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::models {

/// The reparameterisation trick (Kingma and Welling 2014, section 2.4): z = mu + sigma * eps with
/// sigma = exp(logvar / 2) and eps ~ N(0, I) drawn outside the model, so z is a differentiable function of the
/// encoder's outputs.  mu, logvar, eps: (D, B) -> z: (D, B). ShapeError when the shapes differ.
template <typename Scalar>
void reparameterize(const Eigen::Ref<const Matrix<Scalar>>& mu, const Eigen::Ref<const Matrix<Scalar>>& logvar,
                    const Eigen::Ref<const Matrix<Scalar>>& eps, Matrix<Scalar>& z) {
  constexpr std::string_view where = "elm::models::reparameterize";
  check_shape(logvar, mu.rows(), mu.cols(), where, "logvar");
  check_shape(eps, mu.rows(), mu.cols(), where, "eps");
  z = mu + ((Scalar(0.5) * logvar.array()).exp() * eps.array()).matrix();
}

/// The gradient through z = mu + exp(logvar / 2) eps: dmu = dz and dlogvar = dz eps exp(logvar / 2) / 2, both
/// overwritten. ShapeError when the shapes differ.
template <typename Scalar>
void reparameterize_backward(const Eigen::Ref<const Matrix<Scalar>>& logvar,
                             const Eigen::Ref<const Matrix<Scalar>>& eps, const Eigen::Ref<const Matrix<Scalar>>& dz,
                             Matrix<Scalar>& dmu, Matrix<Scalar>& dlogvar) {
  constexpr std::string_view where = "elm::models::reparameterize_backward";
  check_shape(eps, logvar.rows(), logvar.cols(), where, "eps");
  check_shape(dz, logvar.rows(), logvar.cols(), where, "dz");
  dmu = dz;
  dlogvar = (dz.array() * eps.array() * (Scalar(0.5) * logvar.array()).exp() * Scalar(0.5)).matrix();
}

/// Sizes of a Vae: `inputs` values per example (pixels in [0, 1]), `hidden` units in the encoder's and the
/// decoder's hidden layer, `latent` dimensions D of z.
struct VaeConfig {
  Index inputs = 64;
  Index hidden = 128;
  Index latent = 2;
};

/// The two terms of the negative ELBO, each summed over a batch's examples, in nats.
struct VaeLoss {
  double reconstruction = 0.0;  ///< -log p(x | z) at the sampled z (one Monte Carlo draw per example)
  double kl = 0.0;              ///< KL(q(z | x) || N(0, I)), analytic
  double total() const { return reconstruction + kl; }
};

/// A variational autoencoder (Kingma and Welling 2014) with MLP encoder and decoder:
///   encoder: [mu; logvar] = W2 relu(W1 x + b1) + b2       q(z | x) = N(mu, diag(exp(logvar)))
///   z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)         (reparameterize)
///   decoder: logits = V2 relu(V1 z + c1) + c2            p(x | z) = prod_i Bernoulli(x_i; sigmoid(logits_i))
/// and the loss of each example is the negative ELBO
///   -ELBO(x) = -log p(x | z) + KL(q(z | x) || N(0, I))
///            = sum_i BCE(logits_i, x_i) + 1/2 sum_d (mu_d^2 + exp(logvar_d) - logvar_d - 1).
/// With pixels in [0, 1] rather than {0, 1} the Bernoulli term is the cross-entropy of the decoder's
/// probabilities against the pixels' intensities (as PyTorch's MNIST VAE example): it is at least the intensities'
/// own binary entropy, reached when the decoder reproduces each intensity exactly.
/// Parameters encoder.{0,2}.{weight,bias} (encoder.2 has 2 D outputs: mu in rows 0..D-1, logvar in D..2D-1) and
/// decoder.{0,2}.{weight,bias}.  x: (inputs, B); z, mu, logvar, eps: (D, B).
template <typename Scalar = float>
class Vae : public EncoderDecoder<Scalar, Vae<Scalar>> {
  using Base = EncoderDecoder<Scalar, Vae<Scalar>>;
  using Base::decoder_;
  using Base::encoder_;

 public:
  using scalar_type = Scalar;
  /// What backward needs: the sub-networks' caches, the input, the noise and the encoder's and decoder's outputs.
  struct Cache {
    typename HiddenLayerMlp<Scalar>::Cache encoder, decoder;
    Matrix<Scalar> x, mu, logvar, eps, logits;
  };

  /// Zero-initialised (call reset_parameters). InvalidArgument for a size < 1.
  explicit Vae(const VaeConfig& config)
      : Base("elm::models::Vae", config.inputs, config.hidden, "latent", config.latent, 2 * config.latent),
        config_(config) {}
  Vae(const VaeConfig& config, Rng& rng) : Vae(config) { this->reset_parameters(rng); }

  const VaeConfig& config() const { return config_; }

  /// q(z | x)'s mean and log-variance.  x: (inputs, B) -> mu, logvar: (D, B). ShapeError for wrong rows.
  void encode(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& mu, Matrix<Scalar>& logvar) const {
    Matrix<Scalar> out;
    encoder_.forward(x, out);
    split(out, mu, logvar);
  }

  /// p(x | z)'s means, sigmoid(logits): what the decoder draws for z.  z: (D, B) -> (inputs, B).
  void decode(const Eigen::Ref<const Matrix<Scalar>>& z, Matrix<Scalar>& probabilities) const {
    Matrix<Scalar> logits;
    decoder_.forward(z, logits);
    nn::activation_forward<Scalar>(nn::ActivationKind::sigmoid, logits, probabilities);
  }

  /// The negative ELBO's terms summed over the batch, with z = mu + sigma * eps for the given noise (eps: (D, B),
  /// standard normal draws; the caller draws them so that a run is reproducible and an evaluation can average
  /// several). ShapeError for wrong shapes.
  VaeLoss loss(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& eps,
               Cache* cache = nullptr, const nn::ForwardContext& context = {}) const {
    constexpr std::string_view where = "elm::models::Vae::loss";
    check_shape(x, config_.inputs, -1, where, "x");
    check_shape(eps, config_.latent, x.cols(), where, "eps");
    Cache local;
    Cache& c = cache ? *cache : local;
    Matrix<Scalar> out, z;
    encoder_.forward(x, out, &c.encoder, context);
    split(out, c.mu, c.logvar);
    reparameterize<Scalar>(c.mu, c.logvar, eps, z);
    decoder_.forward(z, c.logits, &c.decoder, context);
    VaeLoss terms;
    terms.reconstruction = double(nn::bce_with_logits<Scalar>(c.logits, x, nn::Reduction::sum));
    terms.kl = double(nn::gaussian_kl<Scalar>(c.mu, c.logvar, nn::Reduction::sum));
    c.x = x;
    c.eps = eps;
    return terms;
  }

  /// Adds every parameter's gradient of the batch's summed negative ELBO (reconstruction + KL) of the loss()
  /// call that filled the cache: through the decoder to z, then through z = mu + sigma * eps and the KL's own
  /// gradient to mu and logvar, then through the encoder.
  void backward(const Cache& cache) {
    Matrix<Scalar> dlogits, dz, dmu, dlogvar, dmu_kl, dlogvar_kl, dx;
    nn::bce_with_logits<Scalar>(cache.logits, cache.x, nn::Reduction::sum, &dlogits);
    decoder_.backward(cache.decoder, dlogits, dz);
    reparameterize_backward<Scalar>(cache.logvar, cache.eps, dz, dmu, dlogvar);
    nn::gaussian_kl<Scalar>(cache.mu, cache.logvar, nn::Reduction::sum, &dmu_kl, &dlogvar_kl);
    Matrix<Scalar> dout(2 * config_.latent, dz.cols());
    dout.topRows(config_.latent) = dmu + dmu_kl;
    dout.bottomRows(config_.latent) = dlogvar + dlogvar_kl;
    encoder_.backward(cache.encoder, dout, dx);
  }

 private:
  void split(const Matrix<Scalar>& out, Matrix<Scalar>& mu, Matrix<Scalar>& logvar) const {
    mu = out.topRows(config_.latent);
    logvar = out.bottomRows(config_.latent);
  }

  VaeConfig config_;
};

}  // namespace elm::models
