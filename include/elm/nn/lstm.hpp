// SPDX-License-Identifier: MIT
// Lstm: multi-layer LSTM over batch-first sequences of unequal lengths (PyTorch's nn.LSTM, batch_first=True).
#pragma once

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/lstm_cell.hpp"
#include "elm/nn/recurrent.hpp"

namespace elm::nn {

/// Multi-layer LSTM (PyTorch's nn.LSTM, batch_first=True; Hochreiter and Schmidhuber 1997, with forget gate):
/// L LstmCell layers run over batch-first sequences of unequal lengths, masked as with pack_padded_sequence.
///   x: (I, B T), lengths: B values -> y: (H, B T); state h, c: (H, L B) each (PyTorch's (L, B, H) h_n, c_n)
///   lstm.forward(x, lengths, y, &cache);                              // zero initial state
///   lstm.forward(x, lengths, &initial, y, &final_state, &cache);      // state in and out
///   lstm.backward(cache, dy, &dfinal, dx, &dinitial);                 // adds into the parameter gradients
/// Parameters weight_ih_l{k} (4H, I_k), weight_hh_l{k} (4H, H), bias_ih_l{k}, bias_hh_l{k} (4H), gates i, f, g,
/// o. forward, backward and the state are documented on Recurrent (nn/recurrent.hpp); one step alone is LstmCell.
template <typename Scalar = float>
class Lstm : public Recurrent<LstmCell<Scalar>> {
  using Base = Recurrent<LstmCell<Scalar>>;

 public:
  /// Zero-initialised network. Throws InvalidArgument for a size below 1.
  Lstm(Index input_size, Index hidden_size, Index num_layers = 1) : Base(input_size, hidden_size, num_layers) {}
  /// Shorthand for the network then reset_parameters(rng): PyTorch's U(-1/sqrt(H), 1/sqrt(H)).
  Lstm(Index input_size, Index hidden_size, Index num_layers, Rng& rng) : Base(input_size, hidden_size, num_layers) {
    this->reset_parameters(rng);
  }
};

}  // namespace elm::nn
