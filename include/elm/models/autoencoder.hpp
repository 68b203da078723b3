// SPDX-License-Identifier: MIT
// Autoencoder: an MLP that squeezes each input through a small code and reconstructs it, with its backward pass.
#pragma once

#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/sequential.hpp"

namespace elm::models {

/// An MLP with one hidden ReLU layer: Linear(in, hidden) -> ReLU -> Linear(hidden, out), PyTorch's
/// nn.Sequential(nn.Linear, nn.ReLU, nn.Linear) with the parameter names 0.weight, 0.bias, 2.weight, 2.bias.
/// The encoders and decoders of Autoencoder and Vae.
template <typename Scalar>
using HiddenLayerMlp = nn::Sequential<nn::Linear<Scalar>, nn::Activation<Scalar>, nn::Linear<Scalar>>;

/// That MLP, zero-initialised (reset_parameters draws PyTorch's initialisation).
template <typename Scalar>
HiddenLayerMlp<Scalar> hidden_layer_mlp(Index in, Index hidden, Index out) {
  return HiddenLayerMlp<Scalar>(nn::Linear<Scalar>(in, hidden), nn::Activation<Scalar>(nn::ActivationKind::relu),
                                nn::Linear<Scalar>(hidden, out));
}

/// What an Autoencoder and a Vae share: an encoder MLP (inputs -> hidden -> code_rows) and a decoder MLP
/// (code -> hidden -> inputs), their parameters (encoder.*, decoder.*, through nn::Composite) and initialisation.
template <typename Scalar, typename Derived>
class EncoderDecoder : public nn::Composite<Derived> {
 public:
  void reset_parameters(Rng& rng) {
    encoder_.reset_parameters(rng);
    decoder_.reset_parameters(rng);
  }

 protected:
  /// InvalidArgument naming `where` and `code_name` for a size < 1.
  EncoderDecoder(std::string_view where, Index inputs, Index hidden, std::string_view code_name, Index code,
                 Index code_rows)
      : encoder_(hidden_layer_mlp<Scalar>(checked(where, inputs, hidden, code_name, code), hidden, code_rows)),
        decoder_(hidden_layer_mlp<Scalar>(code, hidden, inputs)) {}

  friend class nn::Composite<Derived>;
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    // through the base, whose protected members a Derived object does not expose here
    std::conditional_t<std::is_const_v<Self>, const EncoderDecoder, EncoderDecoder>& base = self;
    base.encoder_.for_each_parameter(nn::join_name(prefix, "encoder"), f);
    base.decoder_.for_each_parameter(nn::join_name(prefix, "decoder"), f);
  }

  HiddenLayerMlp<Scalar> encoder_, decoder_;

 private:
  static Index checked(std::string_view where, Index inputs, Index hidden, std::string_view code_name, Index code) {
    ELM_EXPECT(inputs > 0 && hidden > 0 && code > 0, InvalidArgument, where, ": expected every size > 0, got inputs = ",
               inputs, ", hidden = ", hidden, ", ", code_name, " = ", code);
    return inputs;
  }
};

/// Sizes of an Autoencoder: `inputs` values per example (pixels in [0, 1]), `hidden` units in the encoder's and
/// the decoder's hidden layer, `code` numbers in the bottleneck.
struct AutoencoderConfig {
  Index inputs = 64;
  Index hidden = 128;
  Index code = 8;
};

/// An undercomplete autoencoder (Hinton and Salakhutdinov 2006, one hidden layer each way):
///   code = encoder(x) = W2 relu(W1 x + b1) + b2          (linear bottleneck of `code` numbers)
///   x_hat = sigmoid(decoder(code))                        (each value in (0, 1), as the pixels are)
/// trained to make x_hat close to x; with only `code` numbers to pass, it must learn what the inputs share.
/// Parameters encoder.{0,2}.{weight,bias}, decoder.{0,2}.{weight,bias}.  x: (inputs, B) -> x_hat: (inputs, B).
template <typename Scalar = float>
class Autoencoder : public EncoderDecoder<Scalar, Autoencoder<Scalar>> {
  using Base = EncoderDecoder<Scalar, Autoencoder<Scalar>>;
  using Base::decoder_;
  using Base::encoder_;

 public:
  using scalar_type = Scalar;
  struct Cache {
    typename HiddenLayerMlp<Scalar>::Cache encoder, decoder;
    typename nn::Activation<Scalar>::Cache sigmoid;
  };

  /// Zero-initialised (call reset_parameters). InvalidArgument for a size < 1.
  explicit Autoencoder(const AutoencoderConfig& config)
      : Base("elm::models::Autoencoder", config.inputs, config.hidden, "code", config.code, config.code),
        config_(config),
        sigmoid_(nn::ActivationKind::sigmoid) {}
  Autoencoder(const AutoencoderConfig& config, Rng& rng) : Autoencoder(config) { this->reset_parameters(rng); }

  const AutoencoderConfig& config() const { return config_; }

  /// x: (inputs, B) -> code: (code, B).
  void encode(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& code) const { encoder_.forward(x, code); }
  /// code: (code, B) -> x_hat: (inputs, B), each value in (0, 1).
  void decode(const Eigen::Ref<const Matrix<Scalar>>& code, Matrix<Scalar>& x_hat) const {
    Matrix<Scalar> logits;
    decoder_.forward(code, logits);
    sigmoid_.forward(logits, x_hat);
  }

  /// The reconstruction x_hat = decode(encode(x)). ShapeError when x does not have `inputs` rows.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& x_hat, Cache* cache = nullptr,
               const nn::ForwardContext& context = {}) const {
    Matrix<Scalar> code, logits;
    encoder_.forward(x, code, cache ? &cache->encoder : nullptr, context);
    decoder_.forward(code, logits, cache ? &cache->decoder : nullptr, context);
    sigmoid_.forward(logits, x_hat, cache ? &cache->sigmoid : nullptr, context);
  }

  /// Adds every parameter's gradient for dx_hat (inputs, B); the input's gradient is not needed.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dx_hat) {
    Matrix<Scalar> dlogits, dcode, dx;
    sigmoid_.backward(cache.sigmoid, dx_hat, dlogits);
    decoder_.backward(cache.decoder, dlogits, dcode);
    encoder_.backward(cache.encoder, dcode, dx);
  }

 private:
  AutoencoderConfig config_;
  nn::Activation<Scalar> sigmoid_;
};

}  // namespace elm::models
