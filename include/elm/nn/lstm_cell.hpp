// SPDX-License-Identifier: MIT
// LstmCell: one LSTM step (PyTorch's nn.LSTMCell; Hochreiter and Schmidhuber 1997, with forget gate), the cell
// type of Lstm.
#pragma once

#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/detail/recurrent.hpp"
#include "elm/nn/detail/vector_kernels.hpp"
#include "elm/nn/recurrent_cell.hpp"

namespace elm::nn {

/// One LSTM step (PyTorch's nn.LSTMCell):
///   i, f, g, o = sigma, sigma, tanh, sigma(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)   (gates in this order, G = 4)
///   c_t = f c_{t-1} + i g,   h_t = o tanh(c_t).
/// forward, backward, parameters (weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H)) and state
/// (h and c, (H, B) each) are RecurrentCell's; Lstm stacks it over sequences.
template <typename Scalar = float>
class LstmCell : public RecurrentCell<LstmCell<Scalar>, Scalar> {
  using Base = RecurrentCell<LstmCell<Scalar>, Scalar>;

 public:
  /// Zero-initialised cell. Throws InvalidArgument for a size below 1.
  LstmCell(Index input_size, Index hidden_size) : Base(input_size, hidden_size) {}
  /// Shorthand for the cell then reset_parameters(rng) (PyTorch's initialisation).
  LstmCell(Index input_size, Index hidden_size, Rng& rng) : Base(input_size, hidden_size) { this->reset_parameters(rng); }

  // The step, as Recurrent and RecurrentCell run it (docs/nn/recurrent.md, "Adding a cell type").
  static constexpr const char* name = "elm::nn::LstmCell";
  static constexpr const char* network_name = "elm::nn::Lstm";
  static constexpr Index gate_count = 4;
  static constexpr bool has_cell_state = true;
  static constexpr bool recurrent_apart = false;  // b_hh is added with b_ih, W_hh h into the gates in place
  static constexpr Index saved_rows = 0;          // the gates and the cell states are all backward needs
  /// Backward's per-step temporaries: tanh(c_t) and the gradient of c_t.
  struct StepWork {
    Matrix<Scalar> tanh_c, dc;
  };

  /// gates += W_hh h, activated in place; c_out = f c + i g; h_out = o tanh(c_out).
  void step_forward(detail::RecurrentStepForward<Scalar> s, StepWork&) const {
    const Index hs = this->hidden_size();
    s.w_hh.multiply_add(s.h, s.gates);
    // over column chunks of the batch on OpenMP threads (the step's only serial part otherwise)
    elm::detail::parallel_chunks(s.h.cols(), elm::detail::column_chunk(4 * hs), [&](Index, Index b0, Index b1) {
      // float on an AVX2 or AVX-512 kernel: the whole cell fused, one column at a time
      const bool fused = detail::with_vector_kernels<Scalar>([&](auto kernels) {
        for (Index b = b0; b < b1; ++b)
          kernels.lstm_cell_column(s.gates.col(b).data(), s.c.col(b).data(), s.c_out.col(b).data(),
                                   s.h_out.col(b).data(), hs);
      });
      if (fused) return;
      const Index nb = b1 - b0;
      auto a = s.gates.middleCols(b0, nb);
      a.topRows(2 * hs).array() = a.topRows(2 * hs).array().logistic();            // input, forget gates
      a.middleRows(2 * hs, hs).array() = a.middleRows(2 * hs, hs).array().tanh();  // cell candidate
      a.bottomRows(hs).array() = a.bottomRows(hs).array().logistic();              // output gate
      auto cn = s.c_out.middleCols(b0, nb).array();
      cn = a.middleRows(hs, hs).array() * s.c.middleCols(b0, nb).array() +
           a.topRows(hs).array() * a.middleRows(2 * hs, hs).array();
      s.h_out.middleCols(b0, nb).array() = a.bottomRows(hs).array() * cn.tanh();
    });
  }

  /// dc_t = dc + dh o (1 - tanh^2 c_t); the gates' gradients through their activations; dc_prev = dc_t f;
  /// dh_prev = W_hh^T dgates.
  void step_backward(detail::RecurrentStepBackward<Scalar> s, StepWork& work) const {
    const Index hs = this->hidden_size(), batch = s.dh.cols();
    work.tanh_c.resize(hs, batch);
    work.dc.resize(hs, batch);
    // over column chunks of the batch on OpenMP threads, as in forward
    elm::detail::parallel_chunks(batch, elm::detail::column_chunk(4 * hs), [&](Index, Index b0, Index b1) {
      const Index nb = b1 - b0;
      const auto g = s.gates.middleCols(b0, nb);
      const auto ig = g.topRows(hs).array(), fg = g.middleRows(hs, hs).array(), cg = g.middleRows(2 * hs, hs).array(),
                 og = g.bottomRows(hs).array();
      const auto dh = s.dh.middleCols(b0, nb).array();
      auto tc = work.tanh_c.middleCols(b0, nb).array();
      auto dc = work.dc.middleCols(b0, nb).array();
      auto dp = s.dgates.middleCols(b0, nb);
      tc = s.c.middleCols(b0, nb).array().tanh();
      dc = s.dc.middleCols(b0, nb).array() + dh * og * (Scalar(1) - tc.square());
      dp.topRows(hs).array() = dc * cg * ig * (Scalar(1) - ig);
      dp.middleRows(hs, hs).array() = dc * s.c_prev.middleCols(b0, nb).array() * fg * (Scalar(1) - fg);
      dp.middleRows(2 * hs, hs).array() = dc * ig * (Scalar(1) - cg.square());
      dp.bottomRows(hs).array() = dh * tc * og * (Scalar(1) - og);
      s.dc_prev.middleCols(b0, nb).array() = dc * fg;
    });
    s.w_hh.multiply(s.dgates, s.dh_prev);
  }
};

}  // namespace elm::nn
