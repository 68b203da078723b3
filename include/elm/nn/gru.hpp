// SPDX-License-Identifier: MIT
// Gru: multi-layer GRU over batch-first sequences of unequal lengths (PyTorch's nn.GRU, batch_first=True).
#pragma once

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/gru_cell.hpp"
#include "elm/nn/recurrent.hpp"

namespace elm::nn {

/// Multi-layer GRU (PyTorch's nn.GRU, batch_first=True; Cho et al. 2014): L GruCell layers run over
/// batch-first sequences of unequal lengths, masked as with pack_padded_sequence.
///   x: (I, B T), lengths: B values -> y: (H, B T); state h: (H, L B) (PyTorch's (L, B, H) h_n)
///   gru.forward(x, lengths, y, &cache);                               // zero initial state
///   gru.forward(x, lengths, &initial, y, &final_state, &cache);       // state in and out
///   gru.backward(cache, dy, &dfinal, dx, &dinitial);                  // adds into the parameter gradients
/// Parameters weight_ih_l{k} (3H, I_k), weight_hh_l{k} (3H, H), bias_ih_l{k}, bias_hh_l{k} (3H), gates r, z, n.
/// forward, backward and the state are documented on Recurrent (nn/recurrent.hpp); one step alone is GruCell.
template <typename Scalar = float>
class Gru : public Recurrent<GruCell<Scalar>> {
  using Base = Recurrent<GruCell<Scalar>>;

 public:
  /// Zero-initialised network. Throws InvalidArgument for a size below 1.
  Gru(Index input_size, Index hidden_size, Index num_layers = 1) : Base(input_size, hidden_size, num_layers) {}
  /// Shorthand for the network then reset_parameters(rng): PyTorch's U(-1/sqrt(H), 1/sqrt(H)).
  Gru(Index input_size, Index hidden_size, Index num_layers, Rng& rng) : Base(input_size, hidden_size, num_layers) {
    this->reset_parameters(rng);
  }
};

}  // namespace elm::nn
