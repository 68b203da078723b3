// SPDX-License-Identifier: MIT
// Gru: Multi-layer GRU (PyTorch's nn.GRU, batch_first=True; Cho et al. 2014).
#pragma once

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/recurrent.hpp"

namespace elm::nn {

/// Multi-layer GRU (PyTorch's nn.GRU, batch_first=True; Cho et al. 2014). Sequences of unequal lengths are masked as with pack_padded_sequence; forward, backward, state
/// and parameter layout are those of detail::RecurrentNetwork.
template <typename Scalar = float>
class Gru : public detail::RecurrentNetwork<Scalar> {
  using Base = detail::RecurrentNetwork<Scalar>;

 public:
  /// r, z = sigma(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z}); n = tanh(W_in x_t + b_in +
  /// r (W_hn h_{t-1} + b_hn)); h_t = (1 - z) n + z h_{t-1}.
  Gru(Index input_size, Index hidden_size, Index num_layers = 1)
      : Base(RecurrentKind::gru, input_size, hidden_size, num_layers) {}
  Gru(Index input_size, Index hidden_size, Index num_layers, Rng& rng)
      : Base(RecurrentKind::gru, input_size, hidden_size, num_layers, rng) {}
};

}  // namespace elm::nn
