// SPDX-License-Identifier: MIT
// RecurrentCell: what every recurrent cell type shares (its four tensors, one step forward and backward), and
// RecurrentState, the state a cell or a stack of cells carries from step to step.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/detail/recurrent.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// The hidden state h (and, for a cell type with one, the cell state c) carried from step to step. A cell's
/// state is (H, B), one column per sequence; a stack's is (H, L B), column l B + b holding layer l's state for
/// sequence b: the bytes of PyTorch's (num_layers, B, H) h_n / c_n. c is empty for a cell type without one.
template <typename Scalar>
struct RecurrentState {
  Matrix<Scalar> h;
  Matrix<Scalar> c;
};

/// What the recurrent cell types share: LstmCell, GruCell and RnnCell derive from it (Derived is the cell type),
/// and Recurrent<Cell> stacks them into a network over sequences. It holds PyTorch's four tensors of a cell,
/// weight_ih (G H, I), weight_hh (G H, H), bias_ih and bias_hh (G H), for G = Derived::gate_count gates, and runs
/// one step: PyTorch's nn.LSTMCell, nn.GRUCell, nn.RNNCell, for a decoder that feeds each output back in.
///
/// The cell type itself supplies the step (see docs/nn/recurrent.md, "Adding a cell type"): `name`,
/// `network_name`, `gate_count`, `has_cell_state`, `recurrent_apart`, `saved_rows`, a `StepWork` struct and
/// `step_forward` / `step_backward` over one step of a batch.
template <typename Derived, typename Scalar>
class RecurrentCell : public Composite<Derived> {
  static_assert(std::is_floating_point_v<Scalar>, "recurrent cells need a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  using State = RecurrentState<Scalar>;
  /// What backward needs from one step (and the packed weights of forward, workspace only).
  struct Cache {
    detail::RecurrentLayerCache<Scalar> step;
    std::vector<Index> lengths;  ///< B ones: every sequence takes the step
    detail::PackedLhs<Scalar> packed_w_ih, packed_w_hh;
  };

  Index input_size() const { return weight_ih_.value.rows(); }
  Index hidden_size() const { return weight_hh_.value.rows(); }
  Parameter<Scalar>& weight_ih() { return weight_ih_; }
  Parameter<Scalar>& weight_hh() { return weight_hh_; }
  Parameter<Scalar>& bias_ih() { return bias_ih_; }
  Parameter<Scalar>& bias_hh() { return bias_hh_; }
  const Parameter<Scalar>& weight_ih() const { return weight_ih_; }
  const Parameter<Scalar>& weight_hh() const { return weight_hh_; }
  const Parameter<Scalar>& bias_ih() const { return bias_ih_; }
  const Parameter<Scalar>& bias_hh() const { return bias_hh_; }

  /// PyTorch's initialisation: every parameter uniform in [-1/sqrt(H), 1/sqrt(H)), drawn in the order
  /// weight_ih, weight_hh, bias_ih, bias_hh.
  void reset_parameters(Rng& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size()));
    this->for_each_parameter("", [&](const std::string&, Parameter<Scalar>& p) { rng.fill_uniform(p.value, -bound, bound); });
  }
  // for_each_parameter(prefix, f) (mutable and const) and zero_grad() come from Composite.

  /// A zero state for B sequences: h (H, B), and c (H, B) for a cell type with a cell state.
  State zero_state(Index batch) const {
    State s;
    s.h = Matrix<Scalar>::Zero(hidden_size(), batch);
    if constexpr (Derived::has_cell_state) s.c = Matrix<Scalar>::Zero(hidden_size(), batch);
    return s;
  }

  /// One step for B sequences.  x: (I, B), state: h (H, B) (and c (H, B)), null for zeros -> next: h' (H, B) (and
  /// c'). The output of the step is next.h. Draws no random numbers (context is accepted for the layer contract).
  /// Throws ShapeError for x not (I, B) or a state not (H, B). Cost O(B G H (I + H)).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const State* state, State& next, Cache* cache = nullptr,
               const ForwardContext& context = {}) const {
    (void)context;
    const std::string where = std::string(Derived::name) + "::forward";
    check_shape(x, input_size(), -1, where, "x");
    const Index batch = x.cols();
    ELM_EXPECT(batch > 0, ShapeError, where, ": x has no columns, expected one per sequence");
    if (state) {
      check_shape(state->h, hidden_size(), batch, where, "state h");
      if constexpr (Derived::has_cell_state) check_shape(state->c, hidden_size(), batch, where, "state c");
    }
    State s = state ? *state : zero_state(batch);
    if constexpr (!Derived::has_cell_state) s.c.resize(0, batch);
    Cache local;
    Cache& c = cache ? *cache : local;
    c.lengths.assign(to_size(batch), 1);
    c.step.x = x;
    Matrix<Scalar> y;
    detail::recurrent_layer_forward(self(), c.step.x, c.lengths, 1, s.h, s.c, y, cache ? &c.step : nullptr,
                                    c.packed_w_ih, c.packed_w_hh);
    next.h.swap(y);
    if constexpr (Derived::has_cell_state)
      next.c.swap(s.c);
    else
      next.c.resize(0, 0);
  }

  /// Backward through the step. dnext: gradient of h' (and c'); an empty matrix means zero. Writes dx (I, B) and,
  /// if given, dstate (the gradient of the state passed to forward); adds into the parameter gradients.
  /// Throws InvalidArgument for a cache forward did not fill, ShapeError for dnext not (H, B).
  void backward(const Cache& cache, const State& dnext, Matrix<Scalar>& dx, State* dstate = nullptr) {
    const std::string where = std::string(Derived::name) + "::backward";
    const Index batch = to_index(cache.lengths.size());
    ELM_EXPECT(batch > 0 && cache.step.x.cols() == batch, InvalidArgument, where,
               ": the cache holds no step, expected the cache filled by forward");
    const Index cs = Derived::has_cell_state ? hidden_size() : 0;
    Matrix<Scalar> dh = Matrix<Scalar>::Zero(hidden_size(), batch), dc = Matrix<Scalar>::Zero(cs, batch);
    if (dnext.h.size() != 0) {
      check_shape(dnext.h, hidden_size(), batch, where, "dnext h");
      dh = dnext.h;
    }
    if constexpr (Derived::has_cell_state) {
      if (dnext.c.size() != 0) {
        check_shape(dnext.c, hidden_size(), batch, where, "dnext c");
        dc = dnext.c;
      }
    }
    detail::recurrent_layer_backward(self(), cache.step, cache.lengths, 1, Matrix<Scalar>(), dh, dc, dx, *scratch_);
    if (dstate) {
      dstate->h.swap(dh);
      if constexpr (Derived::has_cell_state)
        dstate->c.swap(dc);
      else
        dstate->c.resize(0, 0);
    }
  }

 protected:
  /// Zero-initialised tensors for input_size I and hidden_size H. Throws InvalidArgument for a size below 1.
  RecurrentCell(Index input_size, Index hidden_size) {
    ELM_EXPECT(input_size > 0 && hidden_size > 0, InvalidArgument, Derived::name,
               ": expected input_size and hidden_size > 0, got ", input_size, " and ", hidden_size);
    const Index g = Derived::gate_count * hidden_size;
    weight_ih_ = Parameter<Scalar>({g, input_size});
    weight_hh_ = Parameter<Scalar>({g, hidden_size});
    bias_ih_ = Parameter<Scalar>({g});
    bias_hh_ = Parameter<Scalar>({g});
  }

 private:
  friend class Composite<Derived>;
  // The parameters in order, for Composite's for_each_parameter (and zero_grad): weight_ih, weight_hh, bias_ih,
  // bias_hh, PyTorch's names for nn.LSTMCell and its kin. Self is the cell type, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    detail::visit_cell_parameters(self, prefix, "", f);
  }

  const Derived& self() const { return static_cast<const Derived&>(*this); }
  Derived& self() { return static_cast<Derived&>(*this); }

  Parameter<Scalar> weight_ih_, weight_hh_, bias_ih_, bias_hh_;
  elm::detail::Workspace<detail::RecurrentScratch<Scalar>> scratch_;  // backward's buffers
};

}  // namespace elm::nn
