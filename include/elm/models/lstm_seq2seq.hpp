// SPDX-License-Identifier: MIT
// LstmSeq2Seq: a bidirectional LSTM encoder and an attentive LSTM decoder with input feeding (Luong et al.
// 2015), its teacher-forced forward and backward, and the three calls beam_search.hpp decodes with.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/lstm.hpp"
#include "elm/nn/lstm_cell.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::models {

/// How the decoder scores a source position m_s against its state h (Luong et al. 2015, section 3.1).
enum class AttentionScore {
  additive,  ///< v^T tanh(W_q h + W_k m_s + b): Bahdanau et al. 2014's score ("concat" in Luong's paper)
  dot,       ///< h^T m_s; needs decoder_hidden = 2 encoder_hidden
  general,   ///< h^T W_a m_s
};

/// Sizes of an LstmSeq2Seq. encoder_hidden is per direction (the memory is 2 encoder_hidden wide); attention_dim
/// is the additive score's width (unused otherwise). The target ids: pad (what padded target positions hold),
/// bos (the decoder's first input), eos (the end of a target).
struct LstmSeq2SeqConfig {
  Index src_vocab = 0;
  Index tgt_vocab = 0;
  Index embedding_dim = 64;
  Index encoder_hidden = 128;
  Index encoder_layers = 1;
  Index decoder_hidden = 256;
  Index attention_dim = 128;
  AttentionScore attention = AttentionScore::general;
  int pad_id = 0;
  int bos_id = 1;
  int eos_id = 2;
};

/// An LSTM encoder-decoder with global attention (Luong, Pham and Manning 2015, "Effective Approaches to
/// Attention-based Neural Machine Translation", with input feeding, section 3.3):
///   encoder: m = [LSTM_fwd(E_src x); LSTM_bwd(E_src x)], a bidirectional nn.LSTM of encoder_layers layers over
///            the real positions only (pack_padded_sequence), m: (2 He, S) per source;
///   bridge:  h_0 = tanh(W_h [h_fwd; h_bwd] + b_h), c_0 = tanh(W_c [c_fwd; c_bwd] + b_c), the top layer's final
///            states (the decoder's state is Hd wide, the encoder's 2 He);
///   step t:  h_t, c_t = LSTMCell([E_tgt y_{t-1}; ~h_{t-1}], (h_{t-1}, c_{t-1})), ~h_0 = 0 (input feeding);
///            a_t = softmax_s score(h_t, m_s) over the source's real positions; ctx_t = sum_s a_ts m_s;
///            ~h_t = tanh(W_c [ctx_t; h_t]); logits_t = W_o ~h_t + b_o.
/// The score (AttentionScore) is additive, dot or general. The additive score is Bahdanau's function placed in
/// Luong's decoder: it reads the current state h_t, and the context enters the next step through input feeding,
/// not Bahdanau's own decoder (which scores with h_{t-1} and feeds the context into the cell).
/// Parameters, PyTorch's names (tools/make_lstm_seq2seq_fixtures.py builds the same model from nn.Embedding,
/// nn.LSTM(bidirectional=True), nn.Linear and nn.LSTMCell): src_embed.weight (V_src, E), encoder.weight_ih_l{k}
/// ... and encoder.weight_ih_l{k}_reverse ..., bridge_h.{weight,bias}, bridge_c.{weight,bias}, tgt_embed.weight
/// (V, E), decoder.{weight_ih,weight_hh,bias_ih,bias_hh} (4 Hd, E + Hd), attention.key.weight (+ .bias when
/// additive), attention.query.weight and attention.v.weight (additive), combine.weight (Hd, 2 He + Hd),
/// out.{weight,bias} (V, Hd).
template <typename Scalar = float>
class LstmSeq2Seq : public nn::Composite<LstmSeq2Seq<Scalar>> {
  static_assert(std::is_floating_point_v<Scalar>, "LstmSeq2Seq needs a floating-point Scalar");
  using Lstm = nn::Lstm<Scalar>;
  using Linear = nn::Linear<Scalar>;
  using Cell = nn::LstmCell<Scalar>;

 public:
  using scalar_type = Scalar;
  using State = nn::RecurrentState<Scalar>;

  /// What the encoder's backward needs.
  struct EncoderCache {
    typename nn::Embedding<Scalar>::Cache embed;
    std::vector<typename Lstm::Cache> fwd, bwd;  // per layer
    std::vector<Index> lengths;
    Index steps = 0;
  };
  /// What one decoder step's backward needs.
  struct StepCache {
    typename Cell::Cache cell;
    Matrix<Scalar> h;                      // (Hd, R): the cell's output
    std::vector<Vector<Scalar>> alpha;     // per row: the attention weights over its source
    std::vector<Matrix<Scalar>> tanh_pre;  // additive, per row: tanh(W_q h + W_k m + b), (A, S_row)
    typename Linear::Cache query, combine;
    Matrix<Scalar> feed;  // (Hd, R): ~h
  };
  /// What backward needs: every layer's cache, the memory and the shapes.
  struct Cache {
    EncoderCache encoder;
    typename Linear::Cache key, bridge_h, bridge_c, out;
    typename nn::Embedding<Scalar>::Cache tgt_embed;
    Matrix<Scalar> memory, keys, h0, c0;
    std::vector<StepCache> steps;
    std::vector<Index> src_lengths;
    Index batch = 0, src_steps = 0, tgt_steps = 0;
  };
  /// The decoding state of begin_decoding: every source's memory (and keys, computed once), and per hypothesis
  /// (row) its source, LSTM state and fed-back ~h.
  struct DecodingState {
    Matrix<Scalar> memory, keys;        // (2 He, sum of source lengths), (key rows, same)
    std::vector<Index> offset, length;  // per source: its columns
    std::vector<Index> source;          // per row
    State state;                        // h, c: (Hd, rows)
    Matrix<Scalar> feed;                // (Hd, rows)
  };

  /// Zero-initialised model (load or reset_parameters afterwards). Throws InvalidArgument for a size below 1,
  /// dot attention with decoder_hidden != 2 encoder_hidden, or a target id outside [0, tgt_vocab).
  explicit LstmSeq2Seq(const LstmSeq2SeqConfig& config)
      : config_(checked(config)),
        src_embed_(config.src_vocab, config.embedding_dim),
        tgt_embed_(config.tgt_vocab, config.embedding_dim),
        bridge_h_(2 * config.encoder_hidden, config.decoder_hidden),
        bridge_c_(2 * config.encoder_hidden, config.decoder_hidden),
        decoder_(config.embedding_dim + config.decoder_hidden, config.decoder_hidden),
        combine_(2 * config.encoder_hidden + config.decoder_hidden, config.decoder_hidden, /*bias=*/false),
        out_(config.decoder_hidden, config.tgt_vocab) {
    const Index he = config.encoder_hidden;
    for (Index l = 0; l < config.encoder_layers; ++l) {
      enc_fwd_.emplace_back(l == 0 ? config.embedding_dim : 2 * he, he, 1);
      enc_bwd_.emplace_back(l == 0 ? config.embedding_dim : 2 * he, he, 1);
    }
    if (config.attention == AttentionScore::additive) {
      key_.emplace(2 * he, config.attention_dim);
      query_.emplace(config.decoder_hidden, config.attention_dim, /*bias=*/false);
      v_ = nn::Parameter<Scalar>({1, config.attention_dim});
    } else if (config.attention == AttentionScore::general) {
      key_.emplace(2 * he, config.decoder_hidden, /*bias=*/false);
    }
  }

  /// Shorthand for the zero model then reset_parameters(rng).
  LstmSeq2Seq(const LstmSeq2SeqConfig& config, Rng& rng) : LstmSeq2Seq(config) { reset_parameters(rng); }

  /// PyTorch's default initialisation of each layer (embeddings N(0, 1); LSTMs, linear layers and v uniform in
  /// +-1/sqrt(fan)), drawn in the order of for_each_parameter.
  void reset_parameters(Rng& rng) {
    src_embed_.reset_parameters(rng);
    for (std::size_t l = 0; l < enc_fwd_.size(); ++l) {
      enc_fwd_[l].reset_parameters(rng);
      enc_bwd_[l].reset_parameters(rng);
    }
    bridge_h_.reset_parameters(rng);
    bridge_c_.reset_parameters(rng);
    tgt_embed_.reset_parameters(rng);
    decoder_.reset_parameters(rng);
    if (key_) key_->reset_parameters(rng);
    if (query_) query_->reset_parameters(rng);
    if (v_.numel() > 0) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(config_.attention_dim));
      rng.fill_uniform(v_.value, -bound, bound);
    }
    combine_.reset_parameters(rng);
    out_.reset_parameters(rng);
  }

  const LstmSeq2SeqConfig& config() const { return config_; }
  int bos_id() const { return config_.bos_id; }
  int eos_id() const { return config_.eos_id; }
  int pad_id() const { return config_.pad_id; }

  /// Teacher-forced logits. src: B S source ids, batch-first (source b at b S .. b S + S - 1), src_lengths: B
  /// values in [1, S] (ids past a length are not read); tgt_in: B T decoder inputs (bos then the target without its
  /// last token; pad_id or any id at padding) -> logits: (V, B T), column b T + t predicting target token t + 1 of
  /// sequence b (padding columns computed as any other; a loss ignores them). Throws ShapeError for sizes that are
  /// not B S / B T, InvalidArgument for a length outside [1, S], RangeError for an id outside its vocabulary.
  void forward(const std::vector<Index>& src, const std::vector<Index>& src_lengths, const std::vector<Index>& tgt_in,
               Matrix<Scalar>& logits, Cache* cache = nullptr, const nn::ForwardContext& context = {}) const {
    constexpr const char* where = "elm::models::LstmSeq2Seq::forward";
    const Index batch = to_index(src_lengths.size());
    ELM_EXPECT(batch > 0, ShapeError, where, ": src_lengths is empty, expected one length per source");
    ELM_EXPECT(to_index(src.size()) % batch == 0 && !src.empty(), ShapeError, where, ": src has ", src.size(),
               " ids, expected B S with B = ", batch, " sources");
    ELM_EXPECT(to_index(tgt_in.size()) % batch == 0 && !tgt_in.empty(), ShapeError, where, ": tgt_in has ",
               tgt_in.size(), " ids, expected B T with B = ", batch, " targets");
    const Index steps = to_index(tgt_in.size()) / batch;
    for (Index id : tgt_in) check_id(id, config_.tgt_vocab, where, "target token id");
    Cache local;
    Cache& c = cache ? *cache : local;
    State final_fwd, final_bwd;
    encode(src, src_lengths, c.memory, final_fwd, final_bwd, cache ? &c.encoder : nullptr, where, context);
    bridge(final_fwd, final_bwd, c.h0, c.c0, cache);
    compute_keys(c.memory, c.keys, cache ? &c.key : nullptr);
    c.src_lengths = src_lengths;
    c.batch = batch;
    c.src_steps = to_index(src.size()) / batch;
    c.tgt_steps = steps;
    MemoryRows rows{&c.memory, key_ ? &c.keys : &c.memory, {}, {}};
    for (Index b = 0; b < batch; ++b) {
      rows.offset.push_back(b * c.src_steps);
      rows.length.push_back(src_lengths[to_size(b)]);
    }
    // the decoder, one step for the whole batch at a time
    Matrix<Scalar> embedded, step_in(config_.embedding_dim, batch), feeds(config_.decoder_hidden, batch * steps);
    tgt_embed_.forward(tgt_in, embedded, cache ? &c.tgt_embed : nullptr);
    State state{c.h0, c.c0};
    Matrix<Scalar> feed = Matrix<Scalar>::Zero(config_.decoder_hidden, batch);
    if (cache) c.steps.resize(to_size(steps));
    for (Index t = 0; t < steps; ++t) {
      for (Index b = 0; b < batch; ++b) step_in.col(b) = embedded.col(b * steps + t);
      step(step_in, rows, state, feed, cache ? &c.steps[to_size(t)] : nullptr);
      for (Index b = 0; b < batch; ++b) feeds.col(b * steps + t) = feed.col(b);
    }
    out_.forward(feeds, logits, cache ? &c.out : nullptr);
  }

  /// Adds every parameter's gradient from d loss / d logits (V, B T).
  void backward(const Cache& c, const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    constexpr const char* where = "elm::models::LstmSeq2Seq::backward";
    ELM_EXPECT(to_index(c.steps.size()) == c.tgt_steps && c.batch > 0, InvalidArgument, where,
               ": the cache holds ", c.steps.size(), " decoder steps of ", c.tgt_steps,
               ", expected the cache filled by forward");
    const Index batch = c.batch, steps = c.tgt_steps, hd = config_.decoder_hidden;
    Matrix<Scalar> dfeeds;
    out_.backward(c.out, dlogits, dfeeds);  // (Hd, B T)
    MemoryRows rows{&c.memory, key_ ? &c.keys : &c.memory, {}, {}};
    for (Index b = 0; b < batch; ++b) {
      rows.offset.push_back(b * c.src_steps);
      rows.length.push_back(c.src_lengths[to_size(b)]);
    }
    Matrix<Scalar> dmemory = Matrix<Scalar>::Zero(c.memory.rows(), c.memory.cols());
    Matrix<Scalar> dkeys = Matrix<Scalar>::Zero(rows.keys->rows(), rows.keys->cols());
    Matrix<Scalar> dembedded(config_.embedding_dim, batch * steps), dfeed(hd, batch), dstep_in, dfeed_in;
    State dstate{Matrix<Scalar>::Zero(hd, batch), Matrix<Scalar>::Zero(hd, batch)};
    Matrix<Scalar> dfeed_next = Matrix<Scalar>::Zero(hd, batch);
    for (Index t = steps - 1; t >= 0; --t) {
      // ~h_t reaches the logits of step t and, through input feeding, step t + 1
      for (Index b = 0; b < batch; ++b) dfeed.col(b) = dfeeds.col(b * steps + t) + dfeed_next.col(b);
      step_backward(c.steps[to_size(t)], rows, dfeed, dstate, dstep_in, dfeed_next, dmemory, dkeys);
      for (Index b = 0; b < batch; ++b) dembedded.col(b * steps + t) = dstep_in.col(b);
    }
    tgt_embed_.backward(c.tgt_embed, dembedded);
    // the keys' layer, then the bridge, then the encoder
    if (key_) {
      Matrix<Scalar> dm;
      key_->backward(c.key, dkeys, dm);
      dmemory += dm;
    } else {
      dmemory += dkeys;  // dot: the keys are the memory
    }
    State dfinal_fwd, dfinal_bwd;
    bridge_backward(c, dstate, dfinal_fwd, dfinal_bwd);
    encode_backward(c.encoder, dmemory, dfinal_fwd, dfinal_bwd);
  }

  /// The cross-entropy of targets (B T ids, options.ignore_index at padding) given forward's inputs, reduced as
  /// options say (PyTorch's F.cross_entropy; default: the mean over the targets that count).
  double loss(const std::vector<Index>& src, const std::vector<Index>& src_lengths, const std::vector<Index>& tgt_in,
              const std::vector<Index>& targets, const nn::CrossEntropyOptions& options = {}) const {
    Matrix<Scalar> logits;
    forward(src, src_lengths, tgt_in, logits);
    return static_cast<double>(nn::cross_entropy<Scalar>(logits, targets, options));
  }

  /// loss(), and its gradient added into every parameter's gradient: a training step's forward and backward.
  double loss_and_backward(const std::vector<Index>& src, const std::vector<Index>& src_lengths,
                           const std::vector<Index>& tgt_in, const std::vector<Index>& targets,
                           const nn::CrossEntropyOptions& options = {}, const nn::ForwardContext& context = {}) {
    Cache cache;
    Matrix<Scalar> logits, dlogits;
    forward(src, src_lengths, tgt_in, logits, &cache, context);
    const Scalar total = nn::cross_entropy<Scalar>(logits, targets, options, &dlogits);
    backward(cache, dlogits);
    return static_cast<double>(total);
  }

  /// Encodes every source once (its memory and attention keys kept for all steps) and starts `hypotheses`
  /// hypotheses per source, rows source-major, each from the bridge's state. max_steps (how many decode_step calls
  /// may follow) needs no allocation here: an LSTM's state does not grow. Throws InvalidArgument for no sources,
  /// an empty source or hypotheses < 1, RangeError for an id outside [0, src_vocab).
  DecodingState begin_decoding(const std::vector<std::vector<int>>& sources, Index hypotheses, Index max_steps) const {
    constexpr const char* where = "elm::models::LstmSeq2Seq::begin_decoding";
    ELM_EXPECT(!sources.empty(), InvalidArgument, where, ": no sources, expected at least one");
    ELM_EXPECT(hypotheses >= 1, InvalidArgument, where, ": hypotheses per source = ", hypotheses, ", expected >= 1");
    ELM_EXPECT(max_steps >= 0, InvalidArgument, where, ": max_steps = ", max_steps, ", expected >= 0");
    const Index batch = to_index(sources.size());
    Index longest = 0;
    for (std::size_t s = 0; s < sources.size(); ++s) {
      ELM_EXPECT(!sources[s].empty(), InvalidArgument, where, ": source ", s,
                 " is empty, expected at least one token");
      longest = std::max(longest, to_index(sources[s].size()));
    }
    std::vector<Index> ids(to_size(batch * longest), 0), lengths;
    for (Index b = 0; b < batch; ++b) {
      const auto& s = sources[to_size(b)];
      lengths.push_back(to_index(s.size()));
      for (std::size_t i = 0; i < s.size(); ++i) ids[to_size(b * longest) + i] = s[i];
    }
    DecodingState d;
    State final_fwd, final_bwd;
    encode(ids, lengths, d.memory, final_fwd, final_bwd, nullptr, where, {});
    Matrix<Scalar> h0, c0;
    bridge(final_fwd, final_bwd, h0, c0, nullptr);
    if (key_) compute_keys(d.memory, d.keys, nullptr);
    for (Index b = 0; b < batch; ++b) {
      d.offset.push_back(b * longest);
      d.length.push_back(lengths[to_size(b)]);
    }
    const Index rows = batch * hypotheses;
    d.state.h.resize(config_.decoder_hidden, rows);
    d.state.c.resize(config_.decoder_hidden, rows);
    for (Index r = 0; r < rows; ++r) {
      d.source.push_back(r / hypotheses);
      d.state.h.col(r) = h0.col(r / hypotheses);
      d.state.c.col(r) = c0.col(r / hypotheses);
    }
    d.feed = Matrix<Scalar>::Zero(config_.decoder_hidden, rows);
    return d;
  }

  /// One decoder step for every row: last_tokens (one per row) in, logits (V, rows) of the next token out.
  /// Throws ShapeError for last_tokens.size() != rows, RangeError for an id outside [0, tgt_vocab).
  void decode_step(DecodingState& d, const std::vector<int>& last_tokens, Matrix<Scalar>& logits) const {
    constexpr const char* where = "elm::models::LstmSeq2Seq::decode_step";
    const Index rows = to_index(d.source.size());
    ELM_EXPECT(to_index(last_tokens.size()) == rows, ShapeError, where, ": last_tokens has ", last_tokens.size(),
               " ids, expected one per hypothesis (", rows, ")");
    std::vector<Index> ids(last_tokens.begin(), last_tokens.end());
    for (Index id : ids) check_id(id, config_.tgt_vocab, where, "last token id");
    MemoryRows mem{&d.memory, key_ ? &d.keys : &d.memory, {}, {}};
    for (Index r = 0; r < rows; ++r) {
      mem.offset.push_back(d.offset[to_size(d.source[to_size(r)])]);
      mem.length.push_back(d.length[to_size(d.source[to_size(r)])]);
    }
    Matrix<Scalar> embedded;
    tgt_embed_.forward(ids, embedded);
    step(embedded, mem, d.state, d.feed, nullptr);
    out_.forward(d.feed, logits);
  }

  /// Row i of the state becomes a copy of row parents[i]; parents.size() rows remain. Throws RangeError for a
  /// parent outside [0, rows).
  void reorder(DecodingState& d, const std::vector<Index>& parents) const {
    const Index rows = to_index(d.source.size()), n = to_index(parents.size());
    for (Index p : parents) check_id(p, rows, "elm::models::LstmSeq2Seq::reorder", "parent");
    gather_columns(d.state.h, parents);
    gather_columns(d.state.c, parents);
    gather_columns(d.feed, parents);
    std::vector<Index> source(to_size(n));
    for (Index i = 0; i < n; ++i) source[to_size(i)] = d.source[to_size(parents[to_size(i)])];
    d.source.swap(source);
  }

 private:
  friend class nn::Composite<LstmSeq2Seq>;
  // The parameters in PyTorch's state_dict order. Self is LstmSeq2Seq, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.src_embed_.for_each_parameter(nn::join_name(prefix, "src_embed"), f);
    // nn.LSTM(bidirectional=True)'s names: weight_ih_l{k} ... then weight_ih_l{k}_reverse ... for each layer k
    const std::string encoder = nn::join_name(prefix, "encoder");
    for (std::size_t l = 0; l < self.enc_fwd_.size(); ++l)
      for (const bool reverse : {false, true}) {
        const std::string suffix = "_l" + std::to_string(l) + (reverse ? "_reverse" : "");
        (reverse ? self.enc_bwd_ : self.enc_fwd_)[l].cell(0).for_each_parameter(
            "", [&](const std::string& name, auto& p) { f(nn::join_name(encoder, name + suffix), p); });
      }
    self.bridge_h_.for_each_parameter(nn::join_name(prefix, "bridge_h"), f);
    self.bridge_c_.for_each_parameter(nn::join_name(prefix, "bridge_c"), f);
    self.tgt_embed_.for_each_parameter(nn::join_name(prefix, "tgt_embed"), f);
    self.decoder_.for_each_parameter(nn::join_name(prefix, "decoder"), f);
    const std::string attention = nn::join_name(prefix, "attention");
    if (self.key_) self.key_->for_each_parameter(nn::join_name(attention, "key"), f);
    if (self.query_) self.query_->for_each_parameter(nn::join_name(attention, "query"), f);
    if (self.v_.numel() > 0) f(nn::join_name(attention, "v.weight"), self.v_);
    self.combine_.for_each_parameter(nn::join_name(prefix, "combine"), f);
    self.out_.for_each_parameter(nn::join_name(prefix, "out"), f);
  }

  // Which memory columns each row of a decoder step attends to: row r reads columns offset[r] .. offset[r] +
  // length[r] - 1 of values (2 He, N) and keys (the scores' side: the memory itself for dot).
  struct MemoryRows {
    const Matrix<Scalar>* values;
    const Matrix<Scalar>* keys;
    std::vector<Index> offset, length;
  };

  static void gather_columns(Matrix<Scalar>& m, const std::vector<Index>& columns) {
    Matrix<Scalar> out(m.rows(), to_index(columns.size()));
    for (std::size_t i = 0; i < columns.size(); ++i) out.col(to_index(i)) = m.col(columns[i]);
    m.swap(out);
  }

  static const LstmSeq2SeqConfig& checked(const LstmSeq2SeqConfig& c) {
    constexpr const char* where = "elm::models::LstmSeq2Seq";
    ELM_EXPECT(c.src_vocab > 0 && c.tgt_vocab > 0 && c.embedding_dim > 0 && c.encoder_hidden > 0 &&
                   c.encoder_layers > 0 && c.decoder_hidden > 0 && c.attention_dim > 0,
               InvalidArgument, where, ": expected every size > 0, got src_vocab = ", c.src_vocab, ", tgt_vocab = ",
               c.tgt_vocab, ", embedding_dim = ", c.embedding_dim, ", encoder_hidden = ", c.encoder_hidden,
               ", encoder_layers = ", c.encoder_layers, ", decoder_hidden = ", c.decoder_hidden,
               ", attention_dim = ", c.attention_dim);
    ELM_EXPECT(c.attention != AttentionScore::dot || c.decoder_hidden == 2 * c.encoder_hidden, InvalidArgument,
               where, ": dot attention compares the decoder state with the memory, expected decoder_hidden = 2 "
               "encoder_hidden = ", 2 * c.encoder_hidden, ", got ", c.decoder_hidden);
    check_id(c.pad_id, c.tgt_vocab, where, "pad_id");
    check_id(c.bos_id, c.tgt_vocab, where, "bos_id");
    check_id(c.eos_id, c.tgt_vocab, where, "eos_id");
    return c;
  }

  /// Column b S + t <- column b S + (length_b - 1 - t) within each sequence's length, zero at padding: a
  /// sequence read backwards, as the reverse direction of a packed nn.LSTM reads it. Its own inverse.
  static void reverse_within(const Matrix<Scalar>& x, const std::vector<Index>& lengths, Index steps,
                             Matrix<Scalar>& out) {
    out.setZero(x.rows(), x.cols());
    for (std::size_t b = 0; b < lengths.size(); ++b) {
      const Index base = to_index(b) * steps, n = lengths[b];
      for (Index t = 0; t < n; ++t) out.col(base + t) = x.col(base + n - 1 - t);
    }
  }

  // The bidirectional encoder. src: B S ids -> memory (2 He, B S), zero at padding; the top layer's final states.
  void encode(const std::vector<Index>& src, const std::vector<Index>& lengths, Matrix<Scalar>& memory,
              State& final_fwd, State& final_bwd, EncoderCache* cache, std::string_view where,
              const nn::ForwardContext& context) const {
    const Index batch = to_index(lengths.size()), steps = to_index(src.size()) / batch;
    for (Index len : lengths)
      ELM_EXPECT(len >= 1 && len <= steps, InvalidArgument, where, ": source length ", len,
                 " is out of range, expected 1 <= length <= S = ", steps, " (an empty source has nothing to attend to)");
    for (Index id : src) check_id(id, config_.src_vocab, where, "source token id");
    Matrix<Scalar> x, reversed, y_fwd, y_bwd_reversed, y_bwd;
    src_embed_.forward(src, x, cache ? &cache->embed : nullptr);  // (E, B S)
    if (cache) {
      cache->fwd.resize(enc_fwd_.size());
      cache->bwd.resize(enc_bwd_.size());
      cache->lengths = lengths;
      cache->steps = steps;
    }
    const Index he = config_.encoder_hidden;
    for (std::size_t l = 0; l < enc_fwd_.size(); ++l) {
      enc_fwd_[l].forward(x, lengths, nullptr, y_fwd, &final_fwd, cache ? &cache->fwd[l] : nullptr, context);
      reverse_within(x, lengths, steps, reversed);
      enc_bwd_[l].forward(reversed, lengths, nullptr, y_bwd_reversed, &final_bwd, cache ? &cache->bwd[l] : nullptr,
                          context);
      reverse_within(y_bwd_reversed, lengths, steps, y_bwd);
      x.resize(2 * he, batch * steps);
      x.topRows(he) = y_fwd;
      x.bottomRows(he) = y_bwd;
    }
    memory.swap(x);
  }

  void encode_backward(const EncoderCache& cache, const Matrix<Scalar>& dmemory, const State& dfinal_fwd,
                       const State& dfinal_bwd) {
    const Index he = config_.encoder_hidden;
    Matrix<Scalar> dx = dmemory, dx_fwd, dy_bwd, dx_bwd_reversed, dx_bwd, dy_bwd_reversed;
    for (std::size_t l = enc_fwd_.size(); l-- > 0;) {
      const bool top = l + 1 == enc_fwd_.size();
      dy_bwd = dx.bottomRows(he);
      reverse_within(dy_bwd, cache.lengths, cache.steps, dy_bwd_reversed);
      enc_fwd_[l].backward(cache.fwd[l], dx.topRows(he), top ? &dfinal_fwd : nullptr, dx_fwd);
      enc_bwd_[l].backward(cache.bwd[l], dy_bwd_reversed, top ? &dfinal_bwd : nullptr, dx_bwd_reversed);
      reverse_within(dx_bwd_reversed, cache.lengths, cache.steps, dx_bwd);
      dx = dx_fwd + dx_bwd;
    }
    src_embed_.backward(cache.embed, dx);
  }

  // h_0 = tanh(W_h [h_fwd; h_bwd] + b_h), c_0 likewise from the cell states.
  void bridge(const State& final_fwd, const State& final_bwd, Matrix<Scalar>& h0, Matrix<Scalar>& c0,
              Cache* cache) const {
    const Index he = config_.encoder_hidden, batch = final_fwd.h.cols();
    Matrix<Scalar> joined(2 * he, batch);
    joined.topRows(he) = final_fwd.h;
    joined.bottomRows(he) = final_bwd.h;
    bridge_h_.forward(joined, h0, cache ? &cache->bridge_h : nullptr);
    h0 = h0.array().tanh().matrix();
    joined.topRows(he) = final_fwd.c;
    joined.bottomRows(he) = final_bwd.c;
    bridge_c_.forward(joined, c0, cache ? &cache->bridge_c : nullptr);
    c0 = c0.array().tanh().matrix();
  }

  void bridge_backward(const Cache& c, const State& dstate, State& dfinal_fwd, State& dfinal_bwd) {
    const Index he = config_.encoder_hidden;
    Matrix<Scalar> dpre, djoined;
    dpre = (dstate.h.array() * (Scalar(1) - c.h0.array().square())).matrix();
    bridge_h_.backward(c.bridge_h, dpre, djoined);
    dfinal_fwd.h = djoined.topRows(he);
    dfinal_bwd.h = djoined.bottomRows(he);
    dpre = (dstate.c.array() * (Scalar(1) - c.c0.array().square())).matrix();
    bridge_c_.backward(c.bridge_c, dpre, djoined);
    dfinal_fwd.c = djoined.topRows(he);
    dfinal_bwd.c = djoined.bottomRows(he);
  }

  // What the scores read from the memory: W_k m + b (additive), W_a m (general); dot reads the memory itself.
  void compute_keys(const Matrix<Scalar>& memory, Matrix<Scalar>& keys, typename Linear::Cache* cache) const {
    if (key_) key_->forward(memory, keys, cache);
  }

  // One decoder step for R rows: the cell, attention over each row's source, ~h. embedded: (E, R); state and feed
  // (Hd, R) are read and replaced.
  void step(const Matrix<Scalar>& embedded, const MemoryRows& mem, State& state, Matrix<Scalar>& feed,
            StepCache* cache) const {
    const Index rows = embedded.cols(), e = config_.embedding_dim, hd = config_.decoder_hidden;
    const Index width = mem.values->rows();
    // 1) the cell, fed [E y_{t-1}; ~h_{t-1}]
    Matrix<Scalar> x(e + hd, rows);
    x.topRows(e) = embedded;
    x.bottomRows(hd) = feed;
    State next;
    decoder_.forward(x, &state, next, cache ? &cache->cell : nullptr);
    state = std::move(next);
    const Matrix<Scalar>& h = state.h;
    // 2) scores over each row's source positions, softmax, context
    Matrix<Scalar> query;
    if (query_) query_->forward(h, query, cache ? &cache->query : nullptr);
    if (cache) {
      cache->h = h;
      cache->alpha.resize(to_size(rows));
      cache->tanh_pre.resize(query_ ? to_size(rows) : 0);
    }
    Matrix<Scalar> joined(width + hd, rows);
    Vector<Scalar> scores;
    Matrix<Scalar> pre;
    for (Index r = 0; r < rows; ++r) {
      const auto keys = mem.keys->middleCols(mem.offset[to_size(r)], mem.length[to_size(r)]);
      if (query_) {
        pre = (keys.colwise() + query.col(r)).array().tanh().matrix();  // (A, S_r)
        scores.noalias() = pre.transpose() * v_.value.col(0);
        if (cache) cache->tanh_pre[to_size(r)] = pre;
      } else {
        scores.noalias() = keys.transpose() * h.col(r);
      }
      const Scalar max = scores.maxCoeff();
      scores = (scores.array() - max).exp().matrix();
      scores /= scores.sum();
      joined.col(r).head(width).noalias() =
          mem.values->middleCols(mem.offset[to_size(r)], mem.length[to_size(r)]) * scores;
      if (cache) cache->alpha[to_size(r)] = scores;
    }
    // 3) ~h = tanh(W_c [ctx; h])
    joined.bottomRows(hd) = h;
    combine_.forward(joined, feed, cache ? &cache->combine : nullptr);
    feed = feed.array().tanh().matrix();
    if (cache) cache->feed = feed;
  }

  // Backward through one step. dfeed: d loss / d ~h_t (Hd, R); dstate: in, the gradient of the state this step
  // produced, out, of the state it read. Writes dembedded (E, R) and dfeed_in (d ~h_{t-1}); adds into dmemory,
  // dkeys and the parameter gradients.
  void step_backward(const StepCache& c, const MemoryRows& mem, const Matrix<Scalar>& dfeed, State& dstate,
                     Matrix<Scalar>& dembedded, Matrix<Scalar>& dfeed_in, Matrix<Scalar>& dmemory,
                     Matrix<Scalar>& dkeys) {
    const Index rows = dfeed.cols(), e = config_.embedding_dim, hd = config_.decoder_hidden;
    const Index width = mem.values->rows();
    // 3) ~h = tanh(W_c [ctx; h])
    const Matrix<Scalar> dpre = (dfeed.array() * (Scalar(1) - c.feed.array().square())).matrix();
    Matrix<Scalar> djoined;
    combine_.backward(c.combine, dpre, djoined);
    Matrix<Scalar> dh = djoined.bottomRows(hd);
    // 2) attention: d alpha = M^T d ctx; d scores = alpha o (d alpha - alpha . d alpha)
    Matrix<Scalar> dquery;
    if (query_) dquery.setZero(config_.attention_dim, rows);
    Vector<Scalar> dalpha, dscores;
    Matrix<Scalar> dtanh;
    for (Index r = 0; r < rows; ++r) {
      const Index off = mem.offset[to_size(r)], len = mem.length[to_size(r)];
      const Vector<Scalar>& alpha = c.alpha[to_size(r)];
      const auto values = mem.values->middleCols(off, len);
      const auto dctx = djoined.col(r).head(width);
      dalpha.noalias() = values.transpose() * dctx;
      dmemory.middleCols(off, len).noalias() += dctx * alpha.transpose();
      dscores = (alpha.array() * (dalpha.array() - alpha.dot(dalpha))).matrix();
      if (query_) {
        const Matrix<Scalar>& t = c.tanh_pre[to_size(r)];
        v_.gradient().col(0).noalias() += t * dscores;
        dtanh = ((v_.value.col(0) * dscores.transpose()).array() * (Scalar(1) - t.array().square())).matrix();
        dkeys.middleCols(off, len) += dtanh;
        dquery.col(r) = dtanh.rowwise().sum();
      } else {
        const auto keys = mem.keys->middleCols(off, len);
        dh.col(r).noalias() += keys * dscores;
        dkeys.middleCols(off, len).noalias() += c.h.col(r) * dscores.transpose();
      }
    }
    if (query_) {
      Matrix<Scalar> dh_query;
      query_->backward(c.query, dquery, dh_query);
      dh += dh_query;
    }
    // 1) the cell
    State dnext{dh + dstate.h, dstate.c}, dprev;
    Matrix<Scalar> dx;
    decoder_.backward(c.cell, dnext, dx, &dprev);
    dembedded = dx.topRows(e);
    dfeed_in = dx.bottomRows(hd);
    dstate = std::move(dprev);
  }

  LstmSeq2SeqConfig config_;
  nn::Embedding<Scalar> src_embed_, tgt_embed_;
  std::vector<Lstm> enc_fwd_, enc_bwd_;  // one layer each: layer l + 1 reads both directions of layer l
  Linear bridge_h_, bridge_c_;
  Cell decoder_;
  std::optional<Linear> key_, query_;
  nn::Parameter<Scalar> v_;
  Linear combine_, out_;
};

}  // namespace elm::models
