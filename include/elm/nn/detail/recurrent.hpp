// SPDX-License-Identifier: MIT
// The multi-layer recurrent network shared by Rnn, Lstm and Gru: masked batch-first forward and BPTT.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/math.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/detail/vector_kernels.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// The recurrent cell of a RecurrentNetwork (PyTorch's RNN(nonlinearity=...), LSTM, GRU).
enum class RecurrentKind { rnn_tanh, rnn_relu, lstm, gru };

/// Hidden (and, for an LSTM, cell) state of every layer: h and c are (H, L B), column l B + b holding layer l's
/// state for sequence b: the bytes of PyTorch's (num_layers, B, H) h_n / c_n. c is empty except for an LSTM.
template <typename Scalar>
struct RecurrentState {
  Matrix<Scalar> h;
  Matrix<Scalar> c;
};

namespace detail {

template <typename Scalar>
Scalar recurrent_sigmoid(Scalar x) {
  if (x >= Scalar(0)) return Scalar(1) / (Scalar(1) + std::exp(-x));
  const Scalar e = std::exp(x);
  return e / (Scalar(1) + e);
}

/// A stack of recurrent layers over batch-first sequences of unequal lengths. x is (I, B T), column b T + t
/// holding token t of sequence b (PyTorch's batch_first (B, T, I) bytes). Steps t >= lengths[b] are padding:
/// they neither read the input nor change the state, their outputs are zero and their output gradients are
/// ignored, exactly as pack_padded_sequence / pad_packed_sequence behave. Parameters follow PyTorch's names
/// and gate order: weight_ih_l{k} (G H, I_k), weight_hh_l{k} (G H, H), bias_ih_l{k}, bias_hh_l{k} (G H), with
/// gates (i, f, g, o) for an LSTM (G = 4) and (r, z, n) for a GRU (G = 3).
template <typename Scalar>
class RecurrentNetwork {
  static_assert(std::is_floating_point_v<Scalar>, "recurrent layers need a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  using State = RecurrentState<Scalar>;

  /// What backward needs from one layer; every matrix has one column per (t, b), time-major (column t B + b),
  /// zero at padding.
  struct LayerCache {
    Matrix<Scalar> x;       ///< (I_k, B T) the layer's input
    Matrix<Scalar> gates;   ///< (G H, B T) activated gates (RNN: the new h)
    Matrix<Scalar> h_prev;  ///< (H, B T) state entering the step
    Matrix<Scalar> c_prev;  ///< LSTM: (H, B T) cell entering the step
    Matrix<Scalar> c;       ///< LSTM: (H, B T) cell after the step
    Matrix<Scalar> hh_n;    ///< GRU: (H, B T) W_hn h + b_hn, the term the reset gate scales
  };
  struct Cache {
    std::vector<LayerCache> layers;
    std::vector<Index> lengths;
    Index batch = 0;
    Index steps = 0;
    /// Forward's packed weights: workspace only (nothing is read from one call to the next), kept so that a
    /// reused cache does not allocate them again.
    PackedLhs<Scalar> packed_w_ih, packed_w_hh;
    Matrix<Scalar> output;  ///< the top layer's time-major outputs (workspace)
  };

  /// Zero-initialised network. Throws InvalidArgument for a non-positive size.
  RecurrentNetwork(RecurrentKind kind, Index input_size, Index hidden_size, Index num_layers)
      : kind_(kind), input_size_(input_size), hidden_size_(hidden_size), num_layers_(num_layers) {
    ELM_EXPECT(input_size > 0 && hidden_size > 0 && num_layers > 0, InvalidArgument, name(),
               ": expected input_size, hidden_size and num_layers > 0, got ", input_size, ", ", hidden_size, ", ",
               num_layers);
    const Index g = gate_count() * hidden_size;
    for (Index l = 0; l < num_layers; ++l) {
      const Index in = l == 0 ? input_size : hidden_size;
      weight_ih_.emplace_back(std::vector<Index>{g, in});
      weight_hh_.emplace_back(std::vector<Index>{g, hidden_size});
      bias_ih_.emplace_back(std::vector<Index>{g});
      bias_hh_.emplace_back(std::vector<Index>{g});
    }
  }

  /// PyTorch's initialisation: every parameter uniform in [-1/sqrt(H), 1/sqrt(H)).
  RecurrentNetwork(RecurrentKind kind, Index input_size, Index hidden_size, Index num_layers, Rng& rng)
      : RecurrentNetwork(kind, input_size, hidden_size, num_layers) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
    for_each_parameter("", [&](const std::string&, Parameter<Scalar>& p) { rng.fill_uniform(p.value, -bound, bound); });
  }

  RecurrentKind kind() const { return kind_; }
  Index input_size() const { return input_size_; }
  Index hidden_size() const { return hidden_size_; }
  Index num_layers() const { return num_layers_; }
  /// Gates per layer: 4 (LSTM), 3 (GRU), 1 (RNN).
  Index gate_count() const { return kind_ == RecurrentKind::lstm ? 4 : kind_ == RecurrentKind::gru ? 3 : 1; }
  Parameter<Scalar>& weight_ih(Index layer) { return weight_ih_.at(to_size(layer)); }
  Parameter<Scalar>& weight_hh(Index layer) { return weight_hh_.at(to_size(layer)); }
  Parameter<Scalar>& bias_ih(Index layer) { return bias_ih_.at(to_size(layer)); }
  Parameter<Scalar>& bias_hh(Index layer) { return bias_hh_.at(to_size(layer)); }

  /// A zero state for a batch of B sequences.
  State zero_state(Index batch) const {
    State s;
    s.h = Matrix<Scalar>::Zero(hidden_size_, num_layers_ * batch);
    if (kind_ == RecurrentKind::lstm) s.c = Matrix<Scalar>::Zero(hidden_size_, num_layers_ * batch);
    return s;
  }

  /// Runs every layer over the batch.  x: (I, B T), lengths: B values in [0, T] -> y: (H, B T), the top
  /// layer's outputs (zero at padding: Keras's return_sequences=True); final (if given) receives
  /// h_n (and c_n) of every layer, the state after each sequence's last real step (return_sequences=False is
  /// final->h's last B columns). initial may be null (zeros). Throws ShapeError for x not (I, B T) or a state
  /// not (H, L B), RangeError for a length outside [0, T]. Cost O(L T B G H (I + H)).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const std::vector<Index>& lengths, Matrix<Scalar>& y,
               const State* initial = nullptr, State* final_state = nullptr, Cache* cache = nullptr) const {
    const std::string where = std::string(name()) + "::forward";
    const Index batch = to_index(lengths.size());
    ELM_EXPECT(batch > 0, ShapeError, where, ": lengths is empty, expected one length per sequence");
    check_shape(x, input_size_, -1, where, "x");
    ELM_EXPECT(x.cols() % batch == 0, ShapeError, where, ": x has ", x.cols(),
               " columns, expected B T with B = ", batch, " sequences");
    const Index steps = x.cols() / batch;
    for (Index len : lengths)
      ELM_EXPECT(len >= 0 && len <= steps, RangeError, where, ": sequence length ", len,
                 " is out of range, expected 0 <= length <= T = ", steps);
    if (initial) {
      check_shape(initial->h, hidden_size_, num_layers_ * batch, where, "initial h");
      if (kind_ == RecurrentKind::lstm) check_shape(initial->c, hidden_size_, num_layers_ * batch, where, "initial c");
    }
    State fin = initial ? *initial : zero_state(batch);
    if (cache) {
      cache->layers.resize(to_size(num_layers_));  // kept: a reused cache's buffers are not reallocated
      cache->lengths = lengths;
      cache->batch = batch;
      cache->steps = steps;
    }
    // The layers work time-major (column t B + b), so that each step's batch is one contiguous block. With a
    // cache, each layer's input is written once, where backward reads it (the cache's x of that layer), and
    // the top layer's outputs go to the cache's workspace: a training step reuses every buffer.
    Matrix<Scalar> input, out;  // used when there is no cache
    to_time_major(x, batch, steps, &lengths, cache ? cache->layers[0].x : input);
    PackedLhs<Scalar> packed_ih, packed_hh;
    for (Index l = 0; l < num_layers_; ++l) {
      LayerCache* lc = cache ? &cache->layers[to_size(l)] : nullptr;
      Matrix<Scalar> h = fin.h.middleCols(l * batch, batch);
      Matrix<Scalar> c;
      if (kind_ == RecurrentKind::lstm) c = fin.c.middleCols(l * batch, batch);
      const bool top = l + 1 == num_layers_;
      Matrix<Scalar>& layer_out = !cache ? out : top ? cache->output : cache->layers[to_size(l + 1)].x;
      layer_forward(l, lc ? lc->x : input, lengths, steps, h, c, layer_out, lc,
                    cache ? cache->packed_w_ih : packed_ih, cache ? cache->packed_w_hh : packed_hh);
      fin.h.middleCols(l * batch, batch) = h;
      if (kind_ == RecurrentKind::lstm) fin.c.middleCols(l * batch, batch) = c;
      if (!cache && !top) input.swap(out);
    }
    to_batch_first(cache ? cache->output : out, batch, steps, y);
    if (final_state) *final_state = std::move(fin);
  }

  /// Backward through time. dy: (H, B T) gradient of the top outputs (entries at padding are ignored; an empty
  /// matrix means zero); dfinal: gradient of the final state (null: zero). Writes dx (I, B T) and, if given,
  /// dinitial; adds into the parameter gradients.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, const State* dfinal,
                Matrix<Scalar>& dx, State* dinitial = nullptr) {
    const std::string where = std::string(name()) + "::backward";
    const Index batch = cache.batch, steps = cache.steps;
    ELM_EXPECT(to_index(cache.layers.size()) == num_layers_, InvalidArgument, where,
               ": the cache holds ", cache.layers.size(), " layers, expected ", num_layers_,
               " (pass the cache filled by forward)");
    if (dy.size() != 0) check_shape(dy, hidden_size_, batch * steps, where, "dy");
    if (dfinal) {
      check_shape(dfinal->h, hidden_size_, num_layers_ * batch, where, "dfinal h");
      if (kind_ == RecurrentKind::lstm) check_shape(dfinal->c, hidden_size_, num_layers_ * batch, where, "dfinal c");
    }
    State dinit = zero_state(batch);
    Matrix<Scalar>& d_out = scratch_->d_out;
    Matrix<Scalar>& d_in = scratch_->d_in;
    if (dy.size() != 0)
      to_time_major(dy, batch, steps, &cache.lengths, d_out);
    else
      d_out.setZero(hidden_size_, batch * steps);
    for (Index l = num_layers_ - 1; l >= 0; --l) {
      Matrix<Scalar> dh = dfinal ? Matrix<Scalar>(dfinal->h.middleCols(l * batch, batch))
                                 : Matrix<Scalar>::Zero(hidden_size_, batch);
      Matrix<Scalar> dc;
      if (kind_ == RecurrentKind::lstm)
        dc = dfinal ? Matrix<Scalar>(dfinal->c.middleCols(l * batch, batch)) : Matrix<Scalar>::Zero(hidden_size_, batch);
      layer_backward(l, cache.layers[to_size(l)], cache.lengths, steps, d_out, dh, dc, d_in);
      dinit.h.middleCols(l * batch, batch) = dh;
      if (kind_ == RecurrentKind::lstm) dinit.c.middleCols(l * batch, batch) = dc;
      d_out.swap(d_in);
    }
    to_batch_first(d_out, batch, steps, dx);
    if (dinitial) *dinitial = std::move(dinit);
  }

  /// Visits weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} for k = 0..L-1 (PyTorch's order). The
  /// const overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    visit_parameters(*this, prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    visit_parameters(*this, prefix, f);
  }

  void zero_grad() {
    for_each_parameter("", [](const std::string&, Parameter<Scalar>& p) { p.zero_grad(); });
  }

 private:
  // The body of both for_each_parameter overloads: Self is RecurrentNetwork, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    for (std::size_t l = 0; l < self.weight_ih_.size(); ++l) {
      const std::string k = std::to_string(l);
      f(join_name(prefix, "weight_ih_l" + k), self.weight_ih_[l]);
      f(join_name(prefix, "weight_hh_l" + k), self.weight_hh_[l]);
      f(join_name(prefix, "bias_ih_l" + k), self.bias_ih_[l]);
      f(join_name(prefix, "bias_hh_l" + k), self.bias_hh_[l]);
    }
  }

  const char* name() const {
    switch (kind_) {
      case RecurrentKind::lstm: return "elm::nn::Lstm";
      case RecurrentKind::gru: return "elm::nn::Gru";
      default: return "elm::nn::Rnn";
    }
  }

  // (C, B T) batch-first -> time-major; columns at padding (t >= lengths[b]) become zero, so that nothing a
  // caller leaves there (even NaN) reaches a gradient.
  static void to_time_major(const Eigen::Ref<const Matrix<Scalar>>& m, Index batch, Index steps,
                            const std::vector<Index>* lengths, Matrix<Scalar>& out) {
    out.resize(m.rows(), m.cols());
    for (Index b = 0; b < batch; ++b)
      for (Index t = 0; t < steps; ++t) {
        if (lengths && t >= (*lengths)[to_size(b)])
          out.col(t * batch + b).setZero();
        else
          out.col(t * batch + b) = m.col(b * steps + t);
      }
  }
  // out must not alias m (each is a whole matrix the network owns, or the caller's).
  static void to_batch_first(const Matrix<Scalar>& m, Index batch, Index steps, Matrix<Scalar>& out) {
    out.resize(m.rows(), m.cols());
    for (Index b = 0; b < batch; ++b)
      for (Index t = 0; t < steps; ++t) out.col(b * steps + t) = m.col(t * batch + b);
  }

  // One layer forward over time-major x (I_k, T B). h, c: (H, B) state in, updated in place (unchanged past
  // each sequence's end). Writes time-major y (H, T B), zero at padding. w_ih, w_hh: workspace for the packed weights.
  void layer_forward(Index l, const Matrix<Scalar>& x, const std::vector<Index>& lengths, Index steps,
                     Matrix<Scalar>& h, Matrix<Scalar>& c, Matrix<Scalar>& y, LayerCache* lc,
                     PackedLhs<Scalar>& w_ih, PackedLhs<Scalar>& w_hh) const {
    const std::size_t li = to_size(l);
    const Index batch = to_index(lengths.size());
    const Index hs = hidden_size_;
    const Index gh = gate_count() * hs;
    const Index n = batch * steps;
    const bool lstm = kind_ == RecurrentKind::lstm, gru = kind_ == RecurrentKind::gru;
    // 1) input projections of every token at once: one large product instead of T small ones. Every product
    // goes through PackedLhs (faster than Eigen's general product at these shapes, see packed_lhs.hpp).
    // Except for a GRU (whose reset gate scales W_hn h + b_hn), b_hh is added here once, not at every step.
    // The projections go straight into the cache's gates, which each step then overwrites with its activated
    // gates: no separate (G H, B T) buffer to allocate, fill and copy.
    Matrix<Scalar> local_gates;
    Matrix<Scalar>& gx = lc ? lc->gates : local_gates;
    w_ih.multiply_streamed(weight_ih_[li].value.transpose(), x, gx);  // packed inside this product only
    if (gru)
      gx.colwise() += bias_ih_[li].value.col(0);
    else
      gx.colwise() += bias_ih_[li].value.col(0) + bias_hh_[li].value.col(0);
    w_hh.pack(weight_hh_[li].value.transpose());  // once for all steps
    const auto b_hh = bias_hh_[li].value.col(0);
    // Every column of a step that runs is written below; the columns of the steps after every sequence has
    // ended are zeroed after the loop.
    y.resize(hs, n);
    if (lc) {
      lc->h_prev.resize(hs, n);
      if (lstm) {
        lc->c_prev.resize(hs, n);
        lc->c.resize(hs, n);
      }
      if (gru) lc->hh_n.resize(hs, n);
    }
    // An LSTM or RNN step adds W_hh h into its columns of gx and activates them in place, writing the new
    // cell into the cache (c_new when there is none) and the new h into y: no per-step copies of the gates.
    // A GRU keeps W_hh h apart (hh), as its reset gate scales part of it.
    Matrix<Scalar> hh, act, h_new, c_new;
    if (gru) {
      hh.resize(gh, batch);
      act.resize(gh, batch);
      h_new.resize(hs, batch);
    }
    if (lstm && !lc) c_new.resize(hs, batch);
    // the cache holds zeros at padding
    auto zero_cache_columns = [&](Index first, Index count) {
      lc->gates.middleCols(first, count).setZero();
      lc->h_prev.middleCols(first, count).setZero();
      if (lstm) {
        lc->c_prev.middleCols(first, count).setZero();
        lc->c.middleCols(first, count).setZero();
      }
      if (gru) lc->hh_n.middleCols(first, count).setZero();
    };
    Index t = 0;
    for (; t < steps; ++t) {
      Index active = 0;
      for (Index len : lengths) active += t < len ? 1 : 0;
      if (active == 0) break;
      const bool all_active = active == batch;
      const Index c0 = t * batch;
      auto pre = gx.middleCols(c0, batch);
      auto y_t = y.middleCols(c0, batch);
      if (lc) {
        lc->h_prev.middleCols(c0, batch) = h;
        if (lstm) lc->c_prev.middleCols(c0, batch) = c;
      }
      // 2) recurrent projection of the whole batch
      if (gru) {
        w_hh.multiply(h, hh);
        hh.colwise() += b_hh;
      } else {
        w_hh.multiply_add(h, pre);
      }
      // 3) gates and new state for every sequence (vectorised over the block); sequences that have ended are
      // restored below
      switch (kind_) {
        case RecurrentKind::lstm: {
          auto c_t = lc ? lc->c.middleCols(c0, batch) : c_new.middleCols(0, batch);
          // over column chunks of the batch on OpenMP threads (the step's only serial part otherwise)
          elm::detail::parallel_chunks(batch, elm::detail::column_chunk(gh), [&](Index, Index b0, Index b1) {
            // float on an AVX2 or AVX-512 kernel: the whole cell fused, one column at a time
            const bool fused = with_vector_kernels<Scalar>([&](auto kernels) {
              for (Index b = b0; b < b1; ++b)
                kernels.lstm_cell_column(pre.col(b).data(), c.col(b).data(), c_t.col(b).data(), y_t.col(b).data(),
                                         hs);
            });
            if (fused) return;
            const Index nb = b1 - b0;
            auto a = pre.middleCols(b0, nb);
            a.topRows(2 * hs).array() = a.topRows(2 * hs).array().logistic();            // input, forget gates
            a.middleRows(2 * hs, hs).array() = a.middleRows(2 * hs, hs).array().tanh();  // cell candidate
            a.bottomRows(hs).array() = a.bottomRows(hs).array().logistic();              // output gate
            auto cn = c_t.middleCols(b0, nb).array();
            cn = a.middleRows(hs, hs).array() * c.middleCols(b0, nb).array() +
                 a.topRows(hs).array() * a.middleRows(2 * hs, hs).array();
            y_t.middleCols(b0, nb).array() = a.bottomRows(hs).array() * cn.tanh();
          });
          break;
        }
        case RecurrentKind::gru: {
          const auto gxt = gx.middleCols(c0, batch);
          act.topRows(2 * hs).array() = (gxt.topRows(2 * hs) + hh.topRows(2 * hs)).array().logistic();  // r, z
          act.bottomRows(hs).array() =
              (gxt.bottomRows(hs).array() + act.topRows(hs).array() * hh.bottomRows(hs).array()).tanh();  // n
          h_new.array() = (Scalar(1) - act.middleRows(hs, hs).array()) * act.bottomRows(hs).array() +
                          act.middleRows(hs, hs).array() * h.array();
          pre = act;
          if (lc) lc->hh_n.middleCols(c0, batch) = hh.bottomRows(hs);
          y_t = h_new;
          break;
        }
        case RecurrentKind::rnn_tanh:
        case RecurrentKind::rnn_relu: {
          if (kind_ == RecurrentKind::rnn_tanh)
            pre.array() = pre.array().tanh();
          else
            pre = pre.cwiseMax(Scalar(0));
          y_t = pre;
          break;
        }
      }
      if (all_active) {
        h = y_t;
        if (lstm) c = lc ? lc->c.middleCols(c0, batch) : c_new;
      } else {
        for (Index b = 0; b < batch; ++b) {
          if (t < lengths[to_size(b)]) {
            h.col(b) = y_t.col(b);
            if (lstm) c.col(b) = lc ? lc->c.col(c0 + b) : c_new.col(b);
          } else {
            y_t.col(b).setZero();
            if (lc) zero_cache_columns(c0 + b, 1);
          }
        }
      }
    }
    y.rightCols(n - t * batch).setZero();  // the steps that did not run
    if (lc) zero_cache_columns(t * batch, n - t * batch);
  }

  // One layer backward. d_out: (H, T B) time-major gradient of its outputs; dh, dc: (H, B) gradient of its
  // final state, replaced by the gradient of its initial state. Writes time-major d_in (I_k, T B).
  void layer_backward(Index l, const LayerCache& lc, const std::vector<Index>& lengths, Index steps,
                      const Matrix<Scalar>& d_out, Matrix<Scalar>& dh, Matrix<Scalar>& dc, Matrix<Scalar>& d_in) {
    const std::size_t li = to_size(l);
    const Index batch = to_index(lengths.size());
    const Index hs = hidden_size_;
    const Index gh = gate_count() * hs;
    const Index n = batch * steps;
    const bool gru = kind_ == RecurrentKind::gru;
    // d pre-activation, input side, and (GRU only: the reset gate scales it) recurrent side; every step writes
    // its columns
    Matrix<Scalar>& dgx = scratch_->dgx;
    Matrix<Scalar>& dgh = scratch_->dgh;
    dgx.resize(gh, n);
    dgh.resize(gru ? gh : 0, gru ? n : 0);
    PackedLhs<Scalar>& w_hh = scratch_->w_hh;
    w_hh.pack(weight_hh_[li].value);  // packed once for all steps
    // an LSTM writes its gate gradients straight into dgx; the other kinds form them in dpre first
    const bool lstm = kind_ == RecurrentKind::lstm;
    Matrix<Scalar> dpre(lstm ? 0 : gh, lstm ? 0 : batch), dh_direct(hs, batch), dct(hs, batch), tc(hs, batch);
    Matrix<Scalar> dh_prev;
    // the pre-activation gradients on the recurrent side: an LSTM's and RNN's are dgx's, a GRU's dgh's
    const Matrix<Scalar>& drec = gru ? dgh : dgx;
    RowVector<Scalar> mask(batch);
    for (Index t = steps - 1; t >= 0; --t) {
      Index active = 0;
      for (Index b = 0; b < batch; ++b) {
        const bool on = t < lengths[to_size(b)];
        mask(b) = on ? Scalar(1) : Scalar(0);
        active += on ? 1 : 0;
      }
      if (active == 0) {  // every sequence has ended: the state passes through unchanged
        dgx.middleCols(t * batch, batch).setZero();
        if (gru) dgh.middleCols(t * batch, batch).setZero();
        continue;
      }
      const bool all_active = active == batch;
      const Index c0 = t * batch;
      dh += d_out.middleCols(c0, batch);  // zero at padding (to_time_major)
      const auto g = lc.gates.middleCols(c0, batch);
      switch (kind_) {
        case RecurrentKind::lstm: {
          // over column chunks of the batch on OpenMP threads, as in forward
          elm::detail::parallel_chunks(batch, elm::detail::column_chunk(gh), [&](Index, Index b0, Index b1) {
            const Index nb = b1 - b0;
            const auto gb = g.middleCols(b0, nb);
            const auto ig = gb.topRows(hs).array(), fg = gb.middleRows(hs, hs).array(),
                       cg = gb.middleRows(2 * hs, hs).array(), og = gb.bottomRows(hs).array();
            const auto dhb = dh.middleCols(b0, nb).array();
            auto tcb = tc.middleCols(b0, nb).array();
            auto dcb = dct.middleCols(b0, nb).array();
            auto dp = dgx.middleCols(c0 + b0, nb);  // written in place: no per-step copy
            tcb = lc.c.middleCols(c0 + b0, nb).array().tanh();
            dcb = dc.middleCols(b0, nb).array() + dhb * og * (Scalar(1) - tcb.square());
            dp.topRows(hs).array() = dcb * cg * ig * (Scalar(1) - ig);
            dp.middleRows(hs, hs).array() = dcb * lc.c_prev.middleCols(c0 + b0, nb).array() * fg * (Scalar(1) - fg);
            dp.middleRows(2 * hs, hs).array() = dcb * ig * (Scalar(1) - cg.square());
            dp.bottomRows(hs).array() = dhb * tcb * og * (Scalar(1) - og);
          });
          const auto fg = g.middleRows(hs, hs).array();
          // padding: no gate gradient, and dc passes through
          if (all_active) {
            dc.array() = dct.array() * fg;
          } else {
            dgx.middleCols(c0, batch).array().rowwise() *= mask.array();
            for (Index b = 0; b < batch; ++b)
              if (mask(b) != Scalar(0)) dc.col(b) = (dct.col(b).array() * fg.col(b)).matrix();
          }
          break;
        }
        case RecurrentKind::gru: {
          const auto r = g.topRows(hs).array(), z = g.middleRows(hs, hs).array(), cand = g.bottomRows(hs).array();
          // dcand (pre-tanh), dz and dr (pre-sigmoid)
          dct.array() = dh.array() * (Scalar(1) - z) * (Scalar(1) - cand.square());
          dpre.middleRows(hs, hs).array() =
              dh.array() * (lc.h_prev.middleCols(c0, batch).array() - cand) * z * (Scalar(1) - z);
          dpre.topRows(hs).array() = dct.array() * lc.hh_n.middleCols(c0, batch).array() * r * (Scalar(1) - r);
          dpre.bottomRows(hs) = dct;
          if (!all_active) dpre.array().rowwise() *= mask.array();
          dgx.middleCols(c0, batch) = dpre;
          dpre.bottomRows(hs).array() *= r;  // the recurrent side of n is scaled by the reset gate
          dgh.middleCols(c0, batch) = dpre;
          dh_direct.array() = dh.array() * z;
          break;
        }
        case RecurrentKind::rnn_tanh:
        case RecurrentKind::rnn_relu: {
          if (kind_ == RecurrentKind::rnn_tanh)
            dpre.array() = dh.array() * (Scalar(1) - g.array().square());
          else
            dpre.array() = (g.array() > Scalar(0)).select(dh.array(), Scalar(0));
          if (!all_active) dpre.array().rowwise() *= mask.array();
          dgx.middleCols(c0, batch) = dpre;
          break;
        }
      }
      // dh_{t-1} = W_hh d(pre) (+ GRU's direct term); padded sequences keep their gradient
      w_hh.multiply(drec.middleCols(c0, batch), dh_prev);
      if (gru && all_active) {
        dh_prev += dh_direct;
      } else if (gru) {
        for (Index b = 0; b < batch; ++b) {
          if (mask(b) != Scalar(0))
            dh_prev.col(b) += dh_direct.col(b);
          else
            dh_prev.col(b) += dh.col(b);
        }
      } else if (!all_active) {
        for (Index b = 0; b < batch; ++b)
          if (mask(b) == Scalar(0)) dh_prev.col(b) += dh.col(b);
      }
      dh.swap(dh_prev);
    }
    // 4) parameter gradients of all steps in three large products
    PackedLhs<Scalar>& lhs = scratch_->lhs;
    // As dW^T = d(pre) x^T: the (G H, B T) gradient is the packed left side, read column by column (its
    // transpose as the right side was packed from 8-row strips, a cache miss per column), and the product
    // is added straight into the gradient, stored as dW's (I, G H) transpose.
    const bool ih_trainable = weight_ih_[li].trainable;
    if (ih_trainable) {
      lhs.pack(dgx);
      lhs.multiply_add_transposed(lc.x.transpose(), weight_ih_[li].gradient());
    }
    if (weight_hh_[li].trainable) {
      if (gru || !ih_trainable) lhs.pack(drec);  // an LSTM's or RNN's drec is dgx, packed above
      lhs.multiply_add_transposed(lc.h_prev.transpose(), weight_hh_[li].gradient());
    }
    const Vector<Scalar> dbias_ih = elm::row_sums(dgx);
    if (bias_ih_[li].trainable) bias_ih_[li].gradient().col(0) += dbias_ih;
    if (bias_hh_[li].trainable) bias_hh_[li].gradient().col(0) += gru ? elm::row_sums(dgh) : dbias_ih;
    lhs.multiply_streamed(weight_ih_[li].value, dgx, d_in);
  }

  // Buffers of backward, kept between calls (see Workspace) so that a training loop does not allocate (and
  // fault in) some 100 MB per step: page faults were 10 % of the B = 32, T = 64, H = 512 training step.
  struct BackwardScratch {
    Matrix<Scalar> dgx, dgh, d_out, d_in;
    PackedLhs<Scalar> w_hh, lhs;
  };

  RecurrentKind kind_;
  Index input_size_, hidden_size_, num_layers_;
  std::vector<Parameter<Scalar>> weight_ih_, weight_hh_, bias_ih_, bias_hh_;
  elm::detail::Workspace<BackwardScratch> scratch_;
};

}  // namespace detail
}  // namespace elm::nn
