// SPDX-License-Identifier: MIT
// GruCell: one GRU step (PyTorch's nn.GRUCell; Cho et al. 2014), the cell type of Gru.
#pragma once

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/recurrent.hpp"
#include "elm/nn/recurrent_cell.hpp"

namespace elm::nn {

/// One GRU step (PyTorch's nn.GRUCell):
///   r, z = sigma(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z})   (gates r, z, n in this order, G = 3)
///   n = tanh(W_in x_t + b_in + r (W_hn h_{t-1} + b_hn)),   h_t = (1 - z) n + z h_{t-1}.
/// forward, backward, parameters (weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H)) and state
/// (h, (H, B)) are RecurrentCell's; Gru stacks it over sequences.
template <typename Scalar = float>
class GruCell : public RecurrentCell<GruCell<Scalar>, Scalar> {
  using Base = RecurrentCell<GruCell<Scalar>, Scalar>;

 public:
  /// Zero-initialised cell. Throws InvalidArgument for a size below 1.
  GruCell(Index input_size, Index hidden_size) : Base(input_size, hidden_size) {}
  /// Shorthand for the cell then reset_parameters(rng) (PyTorch's initialisation).
  GruCell(Index input_size, Index hidden_size, Rng& rng) : Base(input_size, hidden_size) { this->reset_parameters(rng); }

  // The step, as Recurrent and RecurrentCell run it (docs/nn/recurrent.md, "Adding a cell type").
  static constexpr const char* name = "elm::nn::GruCell";
  static constexpr const char* network_name = "elm::nn::Gru";
  static constexpr Index gate_count = 3;
  static constexpr bool has_cell_state = false;
  static constexpr bool recurrent_apart = true;  // the reset gate scales W_hn h + b_hn: W_hh h + b_hh kept apart
  static constexpr Index saved_rows = 1;         // W_hn h + b_hn, which backward needs for the reset gate
  /// Forward's per-step temporary: W_hh h + b_hh.
  struct StepWork {
    Matrix<Scalar> hh;
  };

  /// hh = W_hh h + b_hh; the gates r, z, n in place of their input projections; h_out = (1 - z) n + z h.
  void step_forward(detail::RecurrentStepForward<Scalar> s, StepWork& work) const {
    const Index hs = this->hidden_size();
    s.w_hh.multiply(s.h, work.hh, this->bias_hh().value.data());
    auto r_z = s.gates.topRows(2 * hs).array();
    r_z = (r_z + work.hh.topRows(2 * hs).array()).logistic();
    const auto r = s.gates.topRows(hs).array(), z = s.gates.middleRows(hs, hs).array();
    auto n = s.gates.bottomRows(hs).array();
    n = (n + r * work.hh.bottomRows(hs).array()).tanh();
    s.h_out.array() = (Scalar(1) - z) * n + z * s.h.array();
    s.saved = work.hh.bottomRows(hs);
  }

  /// dn (before tanh) = dh (1 - z)(1 - n^2), dz = dh (h_prev - n) z (1 - z), dr = dn (W_hn h + b_hn) r (1 - r);
  /// the recurrent side's gradient is the same but for n's rows, scaled by r; dh_prev = W_hh^T dgates_hh + dh z.
  void step_backward(detail::RecurrentStepBackward<Scalar> s, StepWork&) const {
    const Index hs = this->hidden_size();
    const auto r = s.gates.topRows(hs).array(), z = s.gates.middleRows(hs, hs).array(),
               n = s.gates.bottomRows(hs).array();
    const auto dh = s.dh.array();
    s.dgates.bottomRows(hs).array() = dh * (Scalar(1) - z) * (Scalar(1) - n.square());
    s.dgates.middleRows(hs, hs).array() = dh * (s.h_prev.array() - n) * z * (Scalar(1) - z);
    s.dgates.topRows(hs).array() = s.dgates.bottomRows(hs).array() * s.saved.array() * r * (Scalar(1) - r);
    s.dgates_hh.topRows(2 * hs) = s.dgates.topRows(2 * hs);
    s.dgates_hh.bottomRows(hs).array() = s.dgates.bottomRows(hs).array() * r;
    s.w_hh.multiply(s.dgates_hh, s.dh_prev);
    s.dh_prev.array() += dh * z;
  }
};

}  // namespace elm::nn
