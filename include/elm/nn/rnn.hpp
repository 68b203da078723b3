// SPDX-License-Identifier: MIT
// Rnn: multi-layer Elman RNN over batch-first sequences of unequal lengths (PyTorch's nn.RNN, batch_first=True).
#pragma once

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/recurrent.hpp"
#include "elm/nn/rnn_cell.hpp"

namespace elm::nn {

/// Multi-layer Elman RNN (PyTorch's nn.RNN, batch_first=True, nonlinearity "tanh" or "relu"): L RnnCell layers
/// run over batch-first sequences of unequal lengths, masked as with pack_padded_sequence.
///   x: (I, B T), lengths: B values -> y: (H, B T); state h: (H, L B) (PyTorch's (L, B, H) h_n)
///   rnn.forward(x, lengths, y, &cache);                               // zero initial state
///   rnn.forward(x, lengths, &initial, y, &final_state, &cache);       // state in and out
///   rnn.backward(cache, dy, &dfinal, dx, &dinitial);                  // adds into the parameter gradients
/// Parameters weight_ih_l{k} (H, I_k), weight_hh_l{k} (H, H), bias_ih_l{k}, bias_hh_l{k} (H). forward, backward
/// and the state are documented on Recurrent (nn/recurrent.hpp); one step alone is RnnCell.
template <typename Scalar = float>
class Rnn : public Recurrent<RnnCell<Scalar>> {
  using Base = Recurrent<RnnCell<Scalar>>;

 public:
  /// Zero-initialised network, h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh). Throws InvalidArgument for a
  /// size below 1.
  Rnn(Index input_size, Index hidden_size, Index num_layers = 1,
      RnnNonlinearity nonlinearity = RnnNonlinearity::tanh)
      : Base(input_size, hidden_size, num_layers, nonlinearity) {}
  /// Shorthand for the network then reset_parameters(rng): PyTorch's U(-1/sqrt(H), 1/sqrt(H)).
  Rnn(Index input_size, Index hidden_size, Index num_layers, Rng& rng,
      RnnNonlinearity nonlinearity = RnnNonlinearity::tanh)
      : Base(input_size, hidden_size, num_layers, nonlinearity) {
    this->reset_parameters(rng);
  }

  RnnNonlinearity nonlinearity() const { return this->cell(0).nonlinearity(); }
};

}  // namespace elm::nn
