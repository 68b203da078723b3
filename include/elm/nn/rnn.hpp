// SPDX-License-Identifier: MIT
// Rnn: Multi-layer Elman RNN (PyTorch's nn.RNN, batch_first=True).
#pragma once

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/recurrent.hpp"

namespace elm::nn {

/// Multi-layer Elman RNN (PyTorch's nn.RNN, batch_first=True). Sequences of unequal lengths are masked as with pack_padded_sequence; forward, backward, state
/// and parameter layout are those of detail::RecurrentNetwork.
template <typename Scalar = float>
class Rnn : public detail::RecurrentNetwork<Scalar> {
  using Base = detail::RecurrentNetwork<Scalar>;

 public:
  /// Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (relu = true: ReLU instead of tanh).
  Rnn(Index input_size, Index hidden_size, Index num_layers = 1, bool relu = false)
      : Base(relu ? RecurrentKind::rnn_relu : RecurrentKind::rnn_tanh, input_size, hidden_size, num_layers) {}
  Rnn(Index input_size, Index hidden_size, Index num_layers, Rng& rng, bool relu = false)
      : Base(relu ? RecurrentKind::rnn_relu : RecurrentKind::rnn_tanh, input_size, hidden_size, num_layers, rng) {}
};

}  // namespace elm::nn
