// SPDX-License-Identifier: MIT
// Lstm: Multi-layer LSTM (PyTorch's nn.LSTM, batch_first=True; Hochreiter and Schmidhuber 1997, with forget gate).
#pragma once

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/recurrent.hpp"

namespace elm::nn {

/// Multi-layer LSTM (PyTorch's nn.LSTM, batch_first=True; Hochreiter and Schmidhuber 1997, with forget gate). Sequences of unequal lengths are masked as with pack_padded_sequence; forward, backward, state
/// and parameter layout are those of detail::RecurrentNetwork.
template <typename Scalar = float>
class Lstm : public detail::RecurrentNetwork<Scalar> {
  using Base = detail::RecurrentNetwork<Scalar>;

 public:
  /// i, f, g, o = sigma, sigma, tanh, sigma(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); c_t = f c_{t-1} + i g;
  /// h_t = o tanh(c_t). Zero-initialised, or PyTorch-initialised from rng.
  Lstm(Index input_size, Index hidden_size, Index num_layers = 1)
      : Base(RecurrentKind::lstm, input_size, hidden_size, num_layers) {}
  Lstm(Index input_size, Index hidden_size, Index num_layers, Rng& rng)
      : Base(RecurrentKind::lstm, input_size, hidden_size, num_layers, rng) {}
};

}  // namespace elm::nn
