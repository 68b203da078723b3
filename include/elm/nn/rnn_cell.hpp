// SPDX-License-Identifier: MIT
// RnnCell: one Elman RNN step (PyTorch's nn.RNNCell), tanh or ReLU, the cell type of Rnn.
#pragma once

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/recurrent.hpp"
#include "elm/nn/recurrent_cell.hpp"

namespace elm::nn {

/// The nonlinearity of an Elman RNN (PyTorch's nonlinearity="tanh" or "relu").
enum class RnnNonlinearity { tanh, relu };

/// One Elman RNN step (PyTorch's nn.RNNCell): h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh
/// (default) or ReLU (G = 1). forward, backward, parameters (weight_ih (H, I), weight_hh (H, H), bias_ih,
/// bias_hh (H)) and state (h, (H, B)) are RecurrentCell's; Rnn stacks it over sequences.
template <typename Scalar = float>
class RnnCell : public RecurrentCell<RnnCell<Scalar>, Scalar> {
  using Base = RecurrentCell<RnnCell<Scalar>, Scalar>;

 public:
  /// Zero-initialised cell. Throws InvalidArgument for a size below 1.
  RnnCell(Index input_size, Index hidden_size, RnnNonlinearity nonlinearity = RnnNonlinearity::tanh)
      : Base(input_size, hidden_size), nonlinearity_(nonlinearity) {}
  /// Shorthand for the cell then reset_parameters(rng) (PyTorch's initialisation).
  RnnCell(Index input_size, Index hidden_size, Rng& rng, RnnNonlinearity nonlinearity = RnnNonlinearity::tanh)
      : RnnCell(input_size, hidden_size, nonlinearity) {
    this->reset_parameters(rng);
  }

  RnnNonlinearity nonlinearity() const { return nonlinearity_; }

  // The step, as Recurrent and RecurrentCell run it (docs/nn/recurrent.md, "Adding a cell type").
  static constexpr const char* name = "elm::nn::RnnCell";
  static constexpr const char* network_name = "elm::nn::Rnn";
  static constexpr Index gate_count = 1;
  static constexpr bool has_cell_state = false;
  static constexpr bool recurrent_apart = false;  // b_hh is added with b_ih, W_hh h into the gates in place
  static constexpr Index saved_rows = 0;          // the gates are the new state, all backward needs
  struct StepWork {};

  /// gates = act(gates + W_hh h), which is also h_out.
  void step_forward(detail::RecurrentStepForward<Scalar> s, StepWork&) const {
    s.w_hh.multiply_add(s.h, s.gates);
    if (nonlinearity_ == RnnNonlinearity::tanh)
      s.gates.array() = s.gates.array().tanh();
    else
      s.gates = s.gates.cwiseMax(Scalar(0));
    s.h_out = s.gates;
  }

  /// dgates = dh act'(.) (tanh: 1 - h^2; ReLU: h > 0); dh_prev = W_hh^T dgates.
  void step_backward(detail::RecurrentStepBackward<Scalar> s, StepWork&) const {
    if (nonlinearity_ == RnnNonlinearity::tanh)
      s.dgates.array() = s.dh.array() * (Scalar(1) - s.gates.array().square());
    else
      s.dgates.array() = (s.gates.array() > Scalar(0)).select(s.dh.array(), Scalar(0));
    s.w_hh.multiply(s.dgates, s.dh_prev);
  }

 private:
  RnnNonlinearity nonlinearity_;
};

}  // namespace elm::nn
