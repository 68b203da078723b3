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
#include "elm/core/types.hpp"
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

  /// What backward needs from one layer; every matrix has one column per (b, t), zero at padding.
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
  /// layer's outputs (zero at padding: the curriculum's return_sequences=True); final (if given) receives
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
      cache->layers.assign(to_size(num_layers_), LayerCache{});
      cache->lengths = lengths;
      cache->batch = batch;
      cache->steps = steps;
    }
    Matrix<Scalar> input = x;
    for (Index l = 0; l < num_layers_; ++l) {
      LayerCache* lc = cache ? &cache->layers[to_size(l)] : nullptr;
      Matrix<Scalar> h = fin.h.middleCols(l * batch, batch);
      Matrix<Scalar> c;
      if (kind_ == RecurrentKind::lstm) c = fin.c.middleCols(l * batch, batch);
      layer_forward(l, input, lengths, steps, h, c, y, lc);
      fin.h.middleCols(l * batch, batch) = h;
      if (kind_ == RecurrentKind::lstm) fin.c.middleCols(l * batch, batch) = c;
      if (l + 1 < num_layers_) input = y;
    }
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
    Matrix<Scalar> d_out = dy.size() != 0 ? Matrix<Scalar>(dy) : Matrix<Scalar>::Zero(hidden_size_, batch * steps);
    Matrix<Scalar> d_in;
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
    dx = std::move(d_out);
    if (dinitial) *dinitial = std::move(dinit);
  }

  /// Visits weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} for k = 0..L-1 (PyTorch's order).
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    for (std::size_t l = 0; l < weight_ih_.size(); ++l) {
      const std::string k = std::to_string(l);
      f(join_name(prefix, "weight_ih_l" + k), weight_ih_[l]);
      f(join_name(prefix, "weight_hh_l" + k), weight_hh_[l]);
      f(join_name(prefix, "bias_ih_l" + k), bias_ih_[l]);
      f(join_name(prefix, "bias_hh_l" + k), bias_hh_[l]);
    }
  }

  void zero_grad() {
    for_each_parameter("", [](const std::string&, Parameter<Scalar>& p) { p.zero_grad(); });
  }

 private:
  const char* name() const {
    switch (kind_) {
      case RecurrentKind::lstm: return "elm::nn::Lstm";
      case RecurrentKind::gru: return "elm::nn::Gru";
      default: return "elm::nn::Rnn";
    }
  }

  // One layer forward. h, c: (H, B) state in, updated in place (unchanged past each sequence's end).
  void layer_forward(Index l, const Matrix<Scalar>& x, const std::vector<Index>& lengths, Index steps,
                     Matrix<Scalar>& h, Matrix<Scalar>& c, Matrix<Scalar>& y, LayerCache* lc) const {
    const std::size_t li = to_size(l);
    const Index batch = to_index(lengths.size());
    const Index hs = hidden_size_;
    const Index gh = gate_count() * hs;
    const Index n = batch * steps;
    // 1) input projections of every token at once: one large product instead of T small ones
    Matrix<Scalar> gx(gh, n);
    gx.noalias() = weight_ih_[li].value.transpose() * x;
    gx.colwise() += bias_ih_[li].value.col(0);
    const auto& w_hh = weight_hh_[li].value;
    const auto b_hh = bias_hh_[li].value.col(0);
    Matrix<Scalar> y_out = Matrix<Scalar>::Zero(hs, n);
    if (lc) {
      lc->x = x;
      lc->gates = Matrix<Scalar>::Zero(gh, n);
      lc->h_prev = Matrix<Scalar>::Zero(hs, n);
      if (kind_ == RecurrentKind::lstm) {
        lc->c_prev = Matrix<Scalar>::Zero(hs, n);
        lc->c = Matrix<Scalar>::Zero(hs, n);
      }
      if (kind_ == RecurrentKind::gru) lc->hh_n = Matrix<Scalar>::Zero(hs, n);
    }
    Matrix<Scalar> hh(gh, batch), pre(gh, batch);
    for (Index t = 0; t < steps; ++t) {
      // 2) recurrent projection of the whole batch (padded sequences included, then left unchanged)
      hh.noalias() = w_hh.transpose() * h;
      hh.colwise() += b_hh;
      for (Index b = 0; b < batch; ++b) {
        if (t >= lengths[to_size(b)]) continue;
        const Index col = b * steps + t;
        if (lc) {
          lc->h_prev.col(col) = h.col(b);
          if (kind_ == RecurrentKind::lstm) lc->c_prev.col(col) = c.col(b);
        }
        // 3) gates and the new state of sequence b
        switch (kind_) {
          case RecurrentKind::lstm: {
            auto p = pre.col(b);
            p = gx.col(col) + hh.col(b);
            for (Index i = 0; i < hs; ++i) {
              p(i) = recurrent_sigmoid(p(i));                    // input gate
              p(hs + i) = recurrent_sigmoid(p(hs + i));          // forget gate
              p(2 * hs + i) = std::tanh(p(2 * hs + i));          // cell candidate
              p(3 * hs + i) = recurrent_sigmoid(p(3 * hs + i));  // output gate
              c(i, b) = p(hs + i) * c(i, b) + p(i) * p(2 * hs + i);
              h(i, b) = p(3 * hs + i) * std::tanh(c(i, b));
            }
            if (lc) lc->c.col(col) = c.col(b);
            break;
          }
          case RecurrentKind::gru: {
            auto p = pre.col(b);
            for (Index i = 0; i < hs; ++i) {
              const Scalar r = recurrent_sigmoid(gx(i, col) + hh(i, b));
              const Scalar z = recurrent_sigmoid(gx(hs + i, col) + hh(hs + i, b));
              const Scalar cand = std::tanh(gx(2 * hs + i, col) + r * hh(2 * hs + i, b));
              p(i) = r;
              p(hs + i) = z;
              p(2 * hs + i) = cand;
              h(i, b) = (Scalar(1) - z) * cand + z * h(i, b);
            }
            if (lc) lc->hh_n.col(col) = hh.col(b).tail(hs);
            break;
          }
          case RecurrentKind::rnn_tanh:
          case RecurrentKind::rnn_relu: {
            auto p = pre.col(b);
            p = gx.col(col) + hh.col(b);
            if (kind_ == RecurrentKind::rnn_tanh)
              p = p.array().tanh().matrix();
            else
              p = p.cwiseMax(Scalar(0));
            h.col(b) = p;
            break;
          }
        }
        if (lc) lc->gates.col(col) = pre.col(b);
        y_out.col(col) = h.col(b);
      }
    }
    y = std::move(y_out);
  }

  // One layer backward. d_out: (H, B T) gradient of its outputs; dh, dc: (H, B) gradient of its final state,
  // replaced by the gradient of its initial state. Writes d_in (I_k, B T).
  void layer_backward(Index l, const LayerCache& lc, const std::vector<Index>& lengths, Index steps,
                      const Matrix<Scalar>& d_out, Matrix<Scalar>& dh, Matrix<Scalar>& dc, Matrix<Scalar>& d_in) {
    const std::size_t li = to_size(l);
    const Index batch = to_index(lengths.size());
    const Index hs = hidden_size_;
    const Index gh = gate_count() * hs;
    const Index n = batch * steps;
    const bool gru = kind_ == RecurrentKind::gru;
    Matrix<Scalar> dgx = Matrix<Scalar>::Zero(gh, n);               // d pre-activation, input side
    Matrix<Scalar> dgh = gru ? Matrix<Scalar>::Zero(gh, n) : Matrix<Scalar>();  // GRU: recurrent side differs
    const auto& w_hh = weight_hh_[li].value;
    Matrix<Scalar> dpre = Matrix<Scalar>::Zero(gh, batch);  // recurrent-side gradient of this step
    Matrix<Scalar> dh_prev(hs, batch);
    for (Index t = steps - 1; t >= 0; --t) {
      dpre.setZero();
      Matrix<Scalar> dh_direct = Matrix<Scalar>::Zero(hs, batch);  // the part of dh_prev not through W_hh
      for (Index b = 0; b < batch; ++b) {
        if (t >= lengths[to_size(b)]) {
          dh_direct.col(b) = dh.col(b);  // padding: the state passes through unchanged
          continue;
        }
        const Index col = b * steps + t;
        dh.col(b) += d_out.col(col);
        const auto g = lc.gates.col(col);
        switch (kind_) {
          case RecurrentKind::lstm: {
            for (Index i = 0; i < hs; ++i) {
              const Scalar ig = g(i), fg = g(hs + i), cg = g(2 * hs + i), og = g(3 * hs + i);
              const Scalar tc = std::tanh(lc.c(i, col));
              const Scalar dct = dc(i, b) + dh(i, b) * og * (Scalar(1) - tc * tc);
              dgx(i, col) = dct * cg * ig * (Scalar(1) - ig);
              dgx(hs + i, col) = dct * lc.c_prev(i, col) * fg * (Scalar(1) - fg);
              dgx(2 * hs + i, col) = dct * ig * (Scalar(1) - cg * cg);
              dgx(3 * hs + i, col) = dh(i, b) * tc * og * (Scalar(1) - og);
              dc(i, b) = dct * fg;
            }
            dpre.col(b) = dgx.col(col);
            break;
          }
          case RecurrentKind::gru: {
            for (Index i = 0; i < hs; ++i) {
              const Scalar r = g(i), z = g(hs + i), cand = g(2 * hs + i);
              const Scalar d = dh(i, b);
              const Scalar dcand = d * (Scalar(1) - z) * (Scalar(1) - cand * cand);
              const Scalar dz = d * (lc.h_prev(i, col) - cand) * z * (Scalar(1) - z);
              const Scalar dr = dcand * lc.hh_n(i, col) * r * (Scalar(1) - r);
              dgx(i, col) = dr;
              dgx(hs + i, col) = dz;
              dgx(2 * hs + i, col) = dcand;
              dgh(i, col) = dr;
              dgh(hs + i, col) = dz;
              dgh(2 * hs + i, col) = dcand * r;
              dh_direct(i, b) = d * z;
            }
            dpre.col(b) = dgh.col(col);
            break;
          }
          case RecurrentKind::rnn_tanh:
          case RecurrentKind::rnn_relu: {
            for (Index i = 0; i < hs; ++i) {
              const Scalar hv = g(i);
              const Scalar slope = kind_ == RecurrentKind::rnn_tanh ? Scalar(1) - hv * hv
                                                                    : (hv > Scalar(0) ? Scalar(1) : Scalar(0));
              dgx(i, col) = dh(i, b) * slope;
            }
            dpre.col(b) = dgx.col(col);
            break;
          }
        }
      }
      // dh_{t-1} = W_hh d(pre) (+ the direct term); padded sequences keep their gradient
      dh_prev.noalias() = w_hh * dpre;
      dh = dh_prev + dh_direct;
    }
    // 4) parameter gradients of all steps in three large products
    const Matrix<Scalar>& drec = gru ? dgh : dgx;
    if (weight_ih_[li].trainable) weight_ih_[li].grad.noalias() += lc.x * dgx.transpose();
    if (weight_hh_[li].trainable) weight_hh_[li].grad.noalias() += lc.h_prev * drec.transpose();
    if (bias_ih_[li].trainable) bias_ih_[li].grad.col(0) += dgx.rowwise().sum();
    if (bias_hh_[li].trainable) bias_hh_[li].grad.col(0) += drec.rowwise().sum();
    d_in.resize(lc.x.rows(), n);
    d_in.noalias() = weight_ih_[li].value * dgx;
  }

  RecurrentKind kind_;
  Index input_size_, hidden_size_, num_layers_;
  std::vector<Parameter<Scalar>> weight_ih_, weight_hh_, bias_ih_, bias_hh_;
};

}  // namespace detail
}  // namespace elm::nn
