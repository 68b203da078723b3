// SPDX-License-Identifier: MIT
// Recurrent<Cell>: a stack of recurrent cells run over batch-first sequences of unequal lengths, with
// backward through time; Lstm, Gru and Rnn are its three instances.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/detail/recurrent.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/recurrent_cell.hpp"

namespace elm::nn {

/// A stack of L recurrent layers of one cell type (LstmCell, GruCell, RnnCell: PyTorch's nn.LSTM, nn.GRU,
/// nn.RNN with batch_first=True) over batch-first sequences of unequal lengths. x is (I, B T), column b T + t
/// holding token t of sequence b (PyTorch's (B, T, I) bytes), with B lengths beside it. Steps t >= lengths[b]
/// are padding: they neither read the input nor change the state, their outputs are zero and their output
/// gradients are ignored, exactly as pack_padded_sequence / pad_packed_sequence behave. Layer k is a Cell of
/// input size I (k = 0) or H (k > 0); its tensors are named as PyTorch names them: weight_ih_l{k} (G H, I_k),
/// weight_hh_l{k} (G H, H), bias_ih_l{k} and bias_hh_l{k} (G H), gates in PyTorch's order. There is no dropout
/// between layers (PyTorch's dropout = 0).
template <typename Cell>
class Recurrent : public Composite<Recurrent<Cell>> {
 public:
  using cell_type = Cell;
  using scalar_type = typename Cell::scalar_type;
  using State = RecurrentState<scalar_type>;

  /// What backward needs: per layer, every step's input, gates and states, time-major (column t B + b) and zero
  /// at padding; the lengths. The packed weights and the top layer's time-major outputs are workspace only
  /// (nothing is read from one call to the next), kept so that a reused cache allocates nothing.
  struct Cache {
    std::vector<detail::RecurrentLayerCache<scalar_type>> layers;
    std::vector<Index> lengths;
    Index batch = 0;
    Index steps = 0;
    detail::PackedLhs<scalar_type> packed_w_ih, packed_w_hh;
    Matrix<scalar_type> output;
  };

  /// Zero-initialised stack of num_layers cells; cell_options follow the sizes in each cell's constructor
  /// (RnnCell: its nonlinearity). Throws InvalidArgument for a size below 1.
  template <typename... CellOptions>
  Recurrent(Index input_size, Index hidden_size, Index num_layers, const CellOptions&... cell_options)
      : input_size_(input_size), hidden_size_(hidden_size) {
    ELM_EXPECT(input_size > 0 && hidden_size > 0 && num_layers > 0, InvalidArgument, Cell::network_name,
               ": expected input_size, hidden_size and num_layers > 0, got ", input_size, ", ", hidden_size, ", ",
               num_layers);
    for (Index l = 0; l < num_layers; ++l) cells_.emplace_back(l == 0 ? input_size : hidden_size, hidden_size, cell_options...);
  }

  /// PyTorch's initialisation: every parameter uniform in [-1/sqrt(H), 1/sqrt(H)), layer by layer in the order
  /// of for_each_parameter.
  void reset_parameters(Rng& rng) {
    for (Cell& cell : cells_) cell.reset_parameters(rng);
  }
  // for_each_parameter(prefix, f) (mutable and const) and zero_grad() come from Composite.

  Index input_size() const { return input_size_; }
  Index hidden_size() const { return hidden_size_; }
  Index num_layers() const { return to_index(cells_.size()); }
  /// Layer k's cell, which holds weight_ih_l{k} ... as its weight_ih() ... Throws std::out_of_range for k
  /// outside [0, L).
  Cell& cell(Index layer) { return cells_.at(to_size(layer)); }
  const Cell& cell(Index layer) const { return cells_.at(to_size(layer)); }

  /// A zero state for a batch of B sequences: h (H, L B), and c (H, L B) for a cell type with a cell state.
  State zero_state(Index batch) const {
    State s;
    s.h = Matrix<scalar_type>::Zero(hidden_size_, num_layers() * batch);
    if constexpr (Cell::has_cell_state) s.c = Matrix<scalar_type>::Zero(hidden_size_, num_layers() * batch);
    return s;
  }

  /// Runs every layer over the batch from a zero state.  x: (I, B T), lengths: B values in [0, T] -> y: (H, B T),
  /// the top layer's outputs, zero at padding (Keras's return_sequences=True). See the overload with states.
  void forward(const Eigen::Ref<const Matrix<scalar_type>>& x, const std::vector<Index>& lengths,
               Matrix<scalar_type>& y, Cache* cache = nullptr, const ForwardContext& context = {}) const {
    forward(x, lengths, nullptr, y, nullptr, cache, context);
  }

  /// Runs every layer over the batch.  x: (I, B T), lengths: B values in [0, T], initial: h_0 (and c_0), each
  /// (H, L B), null for zeros -> y: (H, B T), the top layer's outputs, zero at padding; final_state (if given):
  /// h_n (and c_n) of every layer, the state after each sequence's last real step (return_sequences=False is
  /// final_state->h's last B columns). Draws no random numbers (context is accepted for the layer contract).
  /// Throws ShapeError for x not (I, B T) or a state not (H, L B), RangeError for a length outside [0, T].
  /// Cost O(L T B G H (I + H)).
  void forward(const Eigen::Ref<const Matrix<scalar_type>>& x, const std::vector<Index>& lengths,
               const State* initial, Matrix<scalar_type>& y, State* final_state, Cache* cache = nullptr,
               const ForwardContext& context = {}) const {
    (void)context;
    const std::string where = std::string(Cell::network_name) + "::forward";
    const Index batch = to_index(lengths.size());
    const Index layers = num_layers();
    ELM_EXPECT(batch > 0, ShapeError, where, ": lengths is empty, expected one length per sequence");
    check_shape(x, input_size_, -1, where, "x");
    ELM_EXPECT(x.cols() % batch == 0, ShapeError, where, ": x has ", x.cols(),
               " columns, expected B T with B = ", batch, " sequences");
    const Index steps = x.cols() / batch;
    for (Index len : lengths)
      ELM_EXPECT(len >= 0 && len <= steps, RangeError, where, ": sequence length ", len,
                 " is out of range, expected 0 <= length <= T = ", steps);
    if (initial) check_state(*initial, batch, where, "initial");
    State fin = initial ? *initial : zero_state(batch);
    if (cache) {
      cache->layers.resize(to_size(layers));  // kept: a reused cache's buffers are not reallocated
      cache->lengths = lengths;
      cache->batch = batch;
      cache->steps = steps;
    }
    // The layers work time-major (column t B + b), so that each step's batch is one contiguous block. With a
    // cache, each layer's input is written once, where backward reads it (the cache's x of that layer), and the
    // top layer's outputs go to the cache's workspace: a training step reuses every buffer.
    Matrix<scalar_type> input, out;  // used when there is no cache
    detail::to_time_major<scalar_type>(x, batch, steps, &lengths, cache ? cache->layers[0].x : input);
    detail::PackedLhs<scalar_type> packed_ih, packed_hh;
    for (Index l = 0; l < layers; ++l) {
      detail::RecurrentLayerCache<scalar_type>* lc = cache ? &cache->layers[to_size(l)] : nullptr;
      Matrix<scalar_type> h = fin.h.middleCols(l * batch, batch);
      Matrix<scalar_type> c(0, batch);
      if constexpr (Cell::has_cell_state) c = fin.c.middleCols(l * batch, batch);
      const bool top = l + 1 == layers;
      Matrix<scalar_type>& layer_out = !cache ? out : top ? cache->output : cache->layers[to_size(l + 1)].x;
      detail::recurrent_layer_forward(cells_[to_size(l)], lc ? lc->x : input, lengths, steps, h, c, layer_out, lc,
                                      cache ? cache->packed_w_ih : packed_ih, cache ? cache->packed_w_hh : packed_hh);
      fin.h.middleCols(l * batch, batch) = h;
      if constexpr (Cell::has_cell_state) fin.c.middleCols(l * batch, batch) = c;
      if (!cache && !top) input.swap(out);
    }
    detail::to_batch_first(cache ? cache->output : out, batch, steps, y);
    if (final_state) *final_state = std::move(fin);
  }

  /// Backward through time from the outputs' gradient alone (the final state's gradient zero). See the overload
  /// with states.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<scalar_type>>& dy, Matrix<scalar_type>& dx) {
    backward(cache, dy, nullptr, dx);
  }

  /// Backward through time. dy: (H, B T) gradient of the top outputs (entries at padding are ignored; an empty
  /// matrix means zero); dfinal: gradient of the final state, (H, L B) each (null: zero). Writes dx (I, B T)
  /// and, if given, dinitial (the gradient of forward's initial state); adds into the parameter gradients.
  /// Throws InvalidArgument for a cache forward did not fill, ShapeError for dy or dfinal of the wrong shape.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<scalar_type>>& dy, const State* dfinal,
                Matrix<scalar_type>& dx, State* dinitial = nullptr) {
    const std::string where = std::string(Cell::network_name) + "::backward";
    const Index batch = cache.batch, steps = cache.steps, layers = num_layers();
    ELM_EXPECT(to_index(cache.layers.size()) == layers, InvalidArgument, where, ": the cache holds ",
               cache.layers.size(), " layers, expected ", layers, " (pass the cache filled by forward)");
    if (dy.size() != 0) check_shape(dy, hidden_size_, batch * steps, where, "dy");
    if (dfinal) check_state(*dfinal, batch, where, "dfinal");
    State dinit = zero_state(batch);
    Matrix<scalar_type>& d_out = scratch_->d_out;
    Matrix<scalar_type>& d_in = scratch_->d_in;
    if (dy.size() != 0)
      detail::to_time_major<scalar_type>(dy, batch, steps, &cache.lengths, d_out);
    else
      d_out.resize(0, 0);  // zero
    const Index cs = Cell::has_cell_state ? hidden_size_ : 0;
    for (Index l = layers - 1; l >= 0; --l) {
      Matrix<scalar_type> dh = dfinal ? Matrix<scalar_type>(dfinal->h.middleCols(l * batch, batch))
                                      : Matrix<scalar_type>::Zero(hidden_size_, batch);
      Matrix<scalar_type> dc = Matrix<scalar_type>::Zero(cs, batch);
      if constexpr (Cell::has_cell_state)
        if (dfinal) dc = dfinal->c.middleCols(l * batch, batch);
      detail::recurrent_layer_backward(cells_[to_size(l)], cache.layers[to_size(l)], cache.lengths, steps, d_out, dh,
                                       dc, d_in, *scratch_);
      dinit.h.middleCols(l * batch, batch) = dh;
      if constexpr (Cell::has_cell_state) dinit.c.middleCols(l * batch, batch) = dc;
      d_out.swap(d_in);
    }
    detail::to_batch_first(d_out, batch, steps, dx);
    if (dinitial) *dinitial = std::move(dinit);
  }

 private:
  friend class Composite<Recurrent>;
  // The parameters in order, for Composite's for_each_parameter: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
  // bias_hh_l{k} for k = 0..L-1 (PyTorch's order). Self is Recurrent, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    for (std::size_t l = 0; l < self.cells_.size(); ++l)
      detail::visit_cell_parameters(self.cells_[l], prefix, "_l" + std::to_string(l), f);
  }

  void check_state(const State& s, Index batch, const std::string& where, const std::string& what) const {
    check_shape(s.h, hidden_size_, num_layers() * batch, where, what + " h");
    if constexpr (Cell::has_cell_state) check_shape(s.c, hidden_size_, num_layers() * batch, where, what + " c");
  }

  Index input_size_, hidden_size_;
  std::vector<Cell> cells_;
  elm::detail::Workspace<detail::RecurrentScratch<scalar_type>> scratch_;  // backward's buffers
};

}  // namespace elm::nn
