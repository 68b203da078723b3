// SPDX-License-Identifier: MIT
// TransformerSeq2Seq: the encoder-decoder Transformer of "Attention is all you need" composed from the library's
// blocks, with PyTorch nn.Transformer's parameter names, a teacher-forced forward, backward and loss, and
// incremental decoding for greedy and beam search (the encoder and the cross-attention keys and values computed
// once per source, the decoder's self-attention KV-cached).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
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
#include "elm/io/safetensors.hpp"
#include "elm/models/detail/config_metadata.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/attention.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/kv_cache.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/multi_head_attention.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/positional_encoding.hpp"
#include "elm/nn/transformer_block.hpp"

namespace elm::models {

/// How positions enter a sequence-to-sequence Transformer: the fixed sinusoids of the 2017 paper, or a learned
/// vector per position (one table for the source, one for the target).
enum class PositionKind { sinusoidal, learned };

/// Sizes and options of a TransformerSeq2Seq: nn.Transformer's arguments (d_model, nhead, num_encoder_layers,
/// num_decoder_layers, dim_feedforward, dropout, activation, layer_norm_eps, norm_first), the vocabularies, the
/// positions, the embedding scale, the head, and the special tokens. Checked by the model's constructor.
struct TransformerSeq2SeqConfig {
  Index source_vocab_size = 0;     ///< V_s
  Index target_vocab_size = 0;     ///< V_t; equal to V_s with a shared vocabulary
  bool shared_vocabulary = false;  ///< one embedding table for source and target tokens
  Index width = 512;               ///< C, d_model
  Index heads = 8;                 ///< H, must divide C
  Index encoder_layers = 6;
  Index decoder_layers = 6;
  Index intermediate = 2048;       ///< F, dim_feedforward
  double dropout = 0.1;            ///< in every layer (as nn.Transformer's) and on the embedded inputs (section 5.4)
  nn::ActivationKind activation = nn::ActivationKind::relu;
  bool norm_first = false;         ///< pre-norm layers; post-norm (the paper's) when false
  double layer_norm_eps = 1e-5;
  bool final_norms = true;         ///< nn.Transformer's encoder.norm and decoder.norm after the last layers
  Index max_positions = 512;       ///< the longest source and the longest target
  PositionKind positions = PositionKind::sinusoidal;
  bool scale_embeddings = true;    ///< token vectors times sqrt(C) before the positions are added (section 3.4)
  bool tie_output = true;          ///< logits = E_t^T h with the target table; else an output_projection layer
  bool output_bias = true;         ///< the untied output_projection's bias
  Index pad_id = 0;                ///< padding: hidden from attention, ignored by the loss
  Index bos_id = 1;                ///< the decoder's first input
  Index eos_id = 2;                ///< ends a target

  /// The encoder stack's configuration: bidirectional, final norm when final_norms.
  nn::TransformerConfig encoder() const { return stack(encoder_layers, false); }
  /// The decoder stack's: causal self-attention, final norm when final_norms.
  nn::TransformerConfig decoder() const { return stack(decoder_layers, true); }

  /// Throws InvalidArgument naming the first field out of its domain.
  void check(std::string_view where) const {
    ELM_EXPECT(source_vocab_size > 0 && target_vocab_size > 0 && source_vocab_size <= nn::max_transformer_dimension &&
                   target_vocab_size <= nn::max_transformer_dimension,
               InvalidArgument, where, ": expected 0 < source_vocab_size, target_vocab_size <= 2^31, got V_s = ",
               source_vocab_size, ", V_t = ", target_vocab_size);
    ELM_EXPECT(!shared_vocabulary || source_vocab_size == target_vocab_size, InvalidArgument, where,
               ": a shared vocabulary needs source_vocab_size == target_vocab_size, got V_s = ", source_vocab_size,
               ", V_t = ", target_vocab_size);
    ELM_EXPECT(encoder_layers > 0 && decoder_layers > 0, InvalidArgument, where,
               ": expected at least one encoder and one decoder layer, got ", encoder_layers, " and ", decoder_layers);
    ELM_EXPECT(positions != PositionKind::sinusoidal || width % 2 == 0, InvalidArgument, where,
               ": sinusoidal positions need an even width, got C = ", width);
    for (const auto& [name, id] : {std::pair{"pad_id", pad_id}, std::pair{"bos_id", bos_id},
                                   std::pair{"eos_id", eos_id}})
      ELM_EXPECT(id >= 0 && id < target_vocab_size, InvalidArgument, where, ": ", name, " = ", id,
                 ", expected 0 <= id < target_vocab_size = ", target_vocab_size);
    ELM_EXPECT(pad_id < source_vocab_size, InvalidArgument, where, ": pad_id = ", pad_id,
               ", expected below source_vocab_size = ", source_vocab_size, " too (sources are padded with it)");
    encoder().check(where);
    decoder().check(where);
  }

 private:
  nn::TransformerConfig stack(Index layers, bool causal) const {
    nn::TransformerConfig t;
    t.width = width;
    t.layers = layers;
    t.heads = heads;
    t.intermediate = intermediate;
    t.dropout = dropout;
    t.norm_first = norm_first;
    t.activation = activation;
    t.max_positions = max_positions;
    t.layer_norm_eps = layer_norm_eps;
    t.final_norm = final_norms;
    t.causal = causal;
    return t;
  }
};

/// A teacher-forced batch of B pairs: sources of S ids and decoder inputs of T ids (bos y_1 ... y_{T-1}), each
/// batch-major (sequence b's position t at b T + t), with PyTorch's key-padding masks (true = padding), which may
/// mark any positions but must leave each sequence at least one real position.
struct Seq2SeqBatch {
  Index batch = 0;                ///< B
  std::vector<Index> source;      ///< B S source ids
  std::vector<Index> target;      ///< B T decoder input ids
  Matrix<bool> source_padding;    ///< empty or (S, B): src_key_padding_mask (also memory_key_padding_mask)
  Matrix<bool> target_padding;    ///< empty or (T, B): tgt_key_padding_mask
};

/// The encoder-decoder Transformer (Vaswani et al. 2017, sections 3.1-3.5; PyTorch's nn.Transformer with
/// batch_first, plus its embeddings and head):
///   memory = encoder(drop(E_s[src] a + P[0..S)))               with the source padding hidden
///   h      = decoder(drop(E_t[tgt] a + P[0..T)), memory)        causal, target padding hidden, cross-attention
///                                                                to the memory with the source padding hidden
///   logits = E_t^T h (tied) or W_o h + b_o
/// a = sqrt(C) when config.scale_embeddings, else 1. Parameters: source_embedding.weight (V_s, C) and
/// target_embedding.weight (V_t, C), or embedding.weight (V, C) when the vocabulary is shared;
/// source_positions.weight and target_positions.weight (max_positions, C) for learned positions;
/// nn.Transformer's encoder.layers.<i>.self_attn.in_proj_weight ..., encoder.norm.*, decoder.layers.<i>.self_attn.*,
/// decoder.layers.<i>.multihead_attn.*, decoder.layers.<i>.linear1.* ..., decoder.norm.*; output_projection.weight
/// (V_t, C) and output_projection.bias when the head is not tied. Logits are (V_t, B T), batch-major.
/// Decoding (begin_decoding, decode_step, reorder) serves greedy and beam search.
template <typename Scalar = float>
class TransformerSeq2Seq : public nn::Composite<TransformerSeq2Seq<Scalar>> {
  static_assert(std::is_floating_point_v<Scalar>, "TransformerSeq2Seq needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  using ProjectedMemory = typename nn::MultiHeadAttention<Scalar>::ProjectedMemory;

  /// What the backward of one side's embedding needs.
  struct EmbeddingCache {
    typename nn::Embedding<Scalar>::Cache tokens;
    typename nn::LearnedPositionalEmbedding<Scalar>::Cache positions;
    typename nn::Dropout<Scalar>::Cache dropout;
  };
  /// What backward needs (filled by forward).
  struct Cache {
    EmbeddingCache source, target;
    typename nn::TransformerEncoder<Scalar>::Cache encoder;
    typename nn::TransformerDecoder<Scalar>::Cache decoder;
    typename nn::Embedding<Scalar>::ProjectionCache tied_head;
    typename nn::Linear<Scalar>::Cache head;
  };

  /// Sources encoded once and hypotheses decoded step by step (begin_decoding, decode_step, reorder).
  struct DecodingState {
    std::vector<nn::KvCache<Scalar>> self_attention;  ///< per decoder layer, one sequence per hypothesis
    std::vector<ProjectedMemory> memory;               ///< per decoder layer, one sequence per source
    std::vector<Index> source_of;                      ///< per hypothesis, the source it translates
    /// Live hypotheses: the rows of decode_step's tokens and logits.
    Index hypotheses() const noexcept { return to_index(source_of.size()); }
    /// Tokens decoded so far by every hypothesis.
    Index length() const noexcept { return self_attention.empty() ? 0 : self_attention.front().length(); }
    /// The most tokens a hypothesis may be given (begin_decoding's max_target_length).
    Index max_length() const noexcept { return self_attention.empty() ? 0 : self_attention.front().max_length(); }
  };

  /// Zero parameters (load them, or call reset_parameters). Throws InvalidArgument on a bad config.
  explicit TransformerSeq2Seq(const TransformerSeq2SeqConfig& config)
      : config_((config.check("elm::models::TransformerSeq2Seq"), config)),
        source_embedding_(config.source_vocab_size, config.width),
        encoder_(config.encoder()),
        decoder_(config.decoder()),
        dropout_(config.dropout),
        embedding_scale_(config.scale_embeddings ? static_cast<Scalar>(std::sqrt(double(config.width)))
                                                 : Scalar(1)) {
    if (!config.shared_vocabulary) target_embedding_.emplace(config.target_vocab_size, config.width);
    if (config.positions == PositionKind::sinusoidal) {
      sinusoid_.emplace(config.width, config.max_positions);
    } else {
      learned_positions_.emplace_back(config.max_positions, config.width);
      learned_positions_.emplace_back(config.max_positions, config.width);
    }
    if (!config.tie_output) output_.emplace(config.width, config.target_vocab_size, config.output_bias);
  }

  /// Shorthand for the zero model followed by reset_parameters(rng).
  TransformerSeq2Seq(const TransformerSeq2SeqConfig& config, Rng& rng) : TransformerSeq2Seq(config) {
    reset_parameters(rng);
  }

  /// nn.Transformer's initialisation of the stacks (each layer's PyTorch default, then Xavier-uniform for every
  /// matrix, nn.Transformer._reset_parameters), token tables from N(0, 1/C) when the embeddings are scaled by
  /// sqrt(C) (so that the scaled vectors have unit variance, as fairseq draws them) and N(0, 1) otherwise, learned
  /// positions N(0, 1) (nn.Embedding's), the untied head as nn.Linear.
  void reset_parameters(Rng& rng) {
    encoder_.reset_parameters(rng);
    decoder_.reset_parameters(rng);
    const auto xavier = [&](const std::string&, nn::Parameter<Scalar>& p) {
      if (p.shape.size() < 2) return;
      rng.fill_uniform(p.value, -std::sqrt(6.0 / double(p.shape[0] + p.shape[1])),
                       std::sqrt(6.0 / double(p.shape[0] + p.shape[1])));
    };
    encoder_.for_each_parameter("", xavier);
    decoder_.for_each_parameter("", xavier);
    const double stddev = config_.scale_embeddings ? 1.0 / std::sqrt(double(config_.width)) : 1.0;
    rng.fill_normal(source_embedding_.weight().value, 0.0, stddev);
    if (target_embedding_) rng.fill_normal(target_embedding_->weight().value, 0.0, stddev);
    for (auto& table : learned_positions_) table.reset_parameters(rng);
    if (output_) output_->reset_parameters(rng);
  }

  const TransformerSeq2SeqConfig& config() const noexcept { return config_; }
  Index source_vocab_size() const noexcept { return config_.source_vocab_size; }
  Index target_vocab_size() const noexcept { return config_.target_vocab_size; }
  Index pad_id() const noexcept { return config_.pad_id; }
  Index bos_id() const noexcept { return config_.bos_id; }
  Index eos_id() const noexcept { return config_.eos_id; }
  const nn::TransformerEncoder<Scalar>& encoder() const noexcept { return encoder_; }
  const nn::TransformerDecoder<Scalar>& decoder() const noexcept { return decoder_; }

  /// Pads B = sources.size() pairs into a teacher-forced batch: sources padded with pad_id; decoder inputs
  /// bos y_1 ... y_n and labels (the next tokens) y_1 ... y_n eos, both padded with pad_id, which the padding
  /// masks hide and loss_options() ignores. Throws InvalidArgument for no pairs, different counts or an empty
  /// source; the ids are checked by forward.
  Seq2SeqBatch make_batch(const std::vector<std::vector<Index>>& sources,
                          const std::vector<std::vector<Index>>& targets, std::vector<Index>& labels) const {
    constexpr std::string_view where = "elm::models::TransformerSeq2Seq::make_batch";
    ELM_EXPECT(!sources.empty() && sources.size() == targets.size(), InvalidArgument, where, ": got ",
               sources.size(), " sources and ", targets.size(), " targets, expected the same positive number");
    std::size_t S = 0, T = 0;
    for (std::size_t b = 0; b < sources.size(); ++b) {
      ELM_EXPECT(!sources[b].empty(), InvalidArgument, where, ": source ", b, " is empty, expected at least one token");
      S = std::max(S, sources[b].size());
      T = std::max(T, targets[b].size() + 1);
    }
    Seq2SeqBatch batch;
    batch.batch = to_index(sources.size());
    batch.source.assign(sources.size() * S, config_.pad_id);
    batch.target.assign(sources.size() * T, config_.pad_id);
    labels.assign(sources.size() * T, config_.pad_id);
    batch.source_padding.setConstant(to_index(S), batch.batch, true);
    batch.target_padding.setConstant(to_index(T), batch.batch, true);
    for (std::size_t b = 0; b < sources.size(); ++b) {
      const Index col = to_index(b);
      std::copy(sources[b].begin(), sources[b].end(), batch.source.begin() + to_index(b * S));
      batch.source_padding.col(col).head(to_index(sources[b].size())).setConstant(false);
      batch.target[b * T] = config_.bos_id;
      std::copy(targets[b].begin(), targets[b].end(), batch.target.begin() + to_index(b * T + 1));
      std::copy(targets[b].begin(), targets[b].end(), labels.begin() + to_index(b * T));
      labels[b * T + targets[b].size()] = config_.eos_id;
      batch.target_padding.col(col).head(to_index(targets[b].size() + 1)).setConstant(false);
    }
    return batch;
  }

  /// Teacher forcing: logits (V_t, B T) of the next token after each decoder input. Dropout in a training
  /// context. Throws ShapeError (ids not B S and B T, masks not (S, B) and (T, B)), RangeError (an id outside its
  /// vocabulary, S or T above max_positions), InvalidArgument (an empty source or target, or one all padding).
  void forward(const Seq2SeqBatch& batch, Matrix<Scalar>& logits, Cache* cache = nullptr,
               const nn::ForwardContext& context = {}) const {
    constexpr std::string_view where = "elm::models::TransformerSeq2Seq::forward";
    check_batch(batch, where);
    const Index B = batch.batch;
    nn::AttentionMask<Scalar> source_mask, target_mask;
    source_mask.key_padding_hidden = batch.source_padding;
    target_mask.causal = true;
    target_mask.key_padding_hidden = batch.target_padding;
    // 1) the encoder over the embedded source
    Matrix<Scalar> x, memory, h;
    embed(Side::source, batch.source, B, 0, x, cache ? &cache->source : nullptr, context);
    encoder_.forward(x, B, source_mask, memory, cache ? &cache->encoder : nullptr, context);
    // 2) the decoder over the embedded target, attending to the memory
    embed(Side::target, batch.target, B, 0, x, cache ? &cache->target : nullptr, context);
    decoder_.forward(x, memory, B, target_mask, source_mask, h, cache ? &cache->decoder : nullptr, context);
    // 3) the head
    if (output_)
      output_->forward(h, logits, cache ? &cache->head : nullptr);
    else
      target_table().project(h, logits, cache ? &cache->tied_head : nullptr);
  }

  /// Adds every parameter's gradient from dlogits: (V_t, B T); a table's uses (source, target, tied head) add up.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    Matrix<Scalar> dh, dx, dmemory;
    if (output_)
      output_->backward(cache.head, dlogits, dh);
    else
      target_table().project_backward(cache.tied_head, dlogits, dh);
    decoder_.backward(cache.decoder, dh, dx, dmemory);
    embed_backward(Side::target, cache.target, dx);
    encoder_.backward(cache.encoder, dmemory, dx);
    embed_backward(Side::source, cache.source, dx);
  }

  /// PyTorch's CrossEntropyLoss(ignore_index = pad_id, label_smoothing = label_smoothing, reduction): what
  /// loss() and loss_and_backward() take (mean: over the labels that are not padding).
  nn::CrossEntropyOptions loss_options(double label_smoothing = 0.0,
                                       nn::Reduction reduction = nn::Reduction::mean) const {
    nn::CrossEntropyOptions o;
    o.ignore_index = config_.pad_id;
    o.label_smoothing = label_smoothing;
    o.reduction = reduction;
    return o;
  }

  /// Cross-entropy of the teacher-forced logits against labels (B T ids, batch-major, the token after each
  /// decoder input; pad_id where there is none). Throws as forward and nn::cross_entropy.
  Scalar loss(const Seq2SeqBatch& batch, const std::vector<Index>& labels,
              const nn::CrossEntropyOptions& options) const {
    Matrix<Scalar> logits;
    forward(batch, logits);
    return nn::cross_entropy<Scalar>(logits, labels, options);
  }

  /// loss(), and its gradient added into every parameter's gradient: a training step's forward (dropout in a
  /// training context) and backward.
  Scalar loss_and_backward(const Seq2SeqBatch& batch, const std::vector<Index>& labels,
                           const nn::CrossEntropyOptions& options, const nn::ForwardContext& context = {}) {
    Cache cache;
    Matrix<Scalar> logits, dlogits;
    forward(batch, logits, &cache, context);
    const Scalar value = nn::cross_entropy<Scalar>(logits, labels, options, &dlogits);
    logits.resize(0, 0);
    backward(cache, dlogits);
    return value;
  }

  /// The value of the "architecture" metadata key in a saved TransformerSeq2Seq.
  static constexpr const char* architecture = "elm-transformer-seq2seq";
  /// The most sinusoidal positions config_from accepts from a file.
  static constexpr Index max_sinusoid_positions = Index(1) << 16;

  /// The configuration as file metadata (every field of TransformerSeq2SeqConfig, as text; numbers with enough
  /// digits to read back the same double), for io::save_parameters(path, model, model.metadata()).
  std::map<std::string, std::string> metadata() const {
    const TransformerSeq2SeqConfig& c = config_;
    const auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
    const auto real = [](double x) {
      char text[32];
      std::snprintf(text, sizeof text, "%.17g", x);
      return std::string(text);
    };
    return {{"architecture", architecture},
            {"source_vocab_size", std::to_string(c.source_vocab_size)},
            {"target_vocab_size", std::to_string(c.target_vocab_size)},
            {"shared_vocabulary", flag(c.shared_vocabulary)},
            {"width", std::to_string(c.width)},
            {"heads", std::to_string(c.heads)},
            {"encoder_layers", std::to_string(c.encoder_layers)},
            {"decoder_layers", std::to_string(c.decoder_layers)},
            {"intermediate", std::to_string(c.intermediate)},
            {"dropout", real(c.dropout)},
            {"activation", nn::activation_name(c.activation)},
            {"norm_first", flag(c.norm_first)},
            {"layer_norm_eps", real(c.layer_norm_eps)},
            {"final_norms", flag(c.final_norms)},
            {"max_positions", std::to_string(c.max_positions)},
            {"positions", c.positions == PositionKind::sinusoidal ? "sinusoidal" : "learned"},
            {"scale_embeddings", flag(c.scale_embeddings)},
            {"tie_output", flag(c.tie_output)},
            {"output_bias", flag(c.output_bias)},
            {"pad_id", std::to_string(c.pad_id)},
            {"bos_id", std::to_string(c.bos_id)},
            {"eos_id", std::to_string(c.eos_id)}};
  }

  /// The configuration that metadata() wrote into a safetensors file (or a trainer's checkpoint with it in its
  /// metadata), checked against the file's tensors before a model of those sizes is allocated; then
  /// io::load_parameters(reader, model) reads the parameters. Throws FormatError naming the file when the
  /// architecture is another, a field is missing or out of its domain, or a size disagrees with a tensor's shape.
  static TransformerSeq2SeqConfig config_from(const io::SafetensorsReader& reader) {
    constexpr const char* where = "elm::models::TransformerSeq2Seq::config_from";
    const detail::ConfigMetadata meta(reader, where, architecture);
    const auto size = [&](const char* key) {
      return static_cast<Index>(meta.integer(key, 1, nn::max_transformer_dimension));
    };
    const auto id = [&](const char* key) { return static_cast<Index>(meta.integer(key, 0, nn::max_transformer_dimension)); };
    TransformerSeq2SeqConfig c;
    c.source_vocab_size = size("source_vocab_size");
    c.target_vocab_size = size("target_vocab_size");
    c.shared_vocabulary = meta.flag("shared_vocabulary");
    c.width = size("width");
    c.heads = size("heads");
    c.encoder_layers = size("encoder_layers");
    c.decoder_layers = size("decoder_layers");
    c.intermediate = size("intermediate");
    c.dropout = meta.real("dropout", 0.0, 1.0);
    c.norm_first = meta.flag("norm_first");
    c.layer_norm_eps = meta.real("layer_norm_eps", 0.0, 1.0);
    c.final_norms = meta.flag("final_norms");
    c.max_positions = size("max_positions");
    c.scale_embeddings = meta.flag("scale_embeddings");
    c.tie_output = meta.flag("tie_output");
    c.output_bias = meta.flag("output_bias");
    c.pad_id = id("pad_id");
    c.bos_id = id("bos_id");
    c.eos_id = id("eos_id");
    const std::string& positions = meta.text("positions");
    ELM_EXPECT(positions == "sinusoidal" || positions == "learned", FormatError, where, ": ", reader.path(),
               " has positions = '", positions, "', expected sinusoidal or learned");
    c.positions = positions == "sinusoidal" ? PositionKind::sinusoidal : PositionKind::learned;
    try {
      c.activation = nn::parse_activation(meta.text("activation"));
      c.check(where);
    } catch (const FormatError&) {
      throw;
    } catch (const Error& e) {
      throw FormatError(elm::detail::concat(where, ": ", reader.path(),
                                            " holds a configuration TransformerSeq2Seq refuses: ", e.what()));
    }
    const Index C = c.width;
    if (c.shared_vocabulary) {
      meta.expect_shape("embedding.weight", {c.source_vocab_size, C});
    } else {
      meta.expect_shape("source_embedding.weight", {c.source_vocab_size, C});
      meta.expect_shape("target_embedding.weight", {c.target_vocab_size, C});
    }
    if (c.positions == PositionKind::learned) meta.expect_shape("target_positions.weight", {c.max_positions, C});
    // The sinusoid table is computed, not read: its size is the one claim no tensor vouches for, so it is bounded.
    ELM_EXPECT(c.positions == PositionKind::learned || c.max_positions <= max_sinusoid_positions, FormatError, where,
               ": ", reader.path(), " has max_positions = ", c.max_positions, " with sinusoidal positions, expected "
               "at most ", max_sinusoid_positions, " (the table is computed at load time)");
    const std::string last_encoder = "encoder.layers." + std::to_string(c.encoder_layers - 1) + ".";
    const std::string last_decoder = "decoder.layers." + std::to_string(c.decoder_layers - 1) + ".";
    meta.expect_shape(last_encoder + "self_attn.in_proj_weight", {3 * C, C});
    meta.expect_shape(last_encoder + "linear1.weight", {c.intermediate, C});
    meta.expect_shape(last_decoder + "multihead_attn.in_proj_weight", {3 * C, C});
    meta.expect_shape(last_decoder + "linear2.weight", {C, c.intermediate});
    if (!c.tie_output) meta.expect_shape("output_projection.weight", {c.target_vocab_size, C});
    return c;
  }

  /// Encodes each source once (its real tokens, no padding or bos needed) and prepares hypotheses_per_source
  /// hypotheses of each, source-major, for up to max_target_length decode_steps: the decoder's cross-attention
  /// keys and values of every source are computed here, once. Id is int or Index. Throws InvalidArgument (no
  /// sources, an empty source, hypotheses_per_source < 1), RangeError (a source longer than max_positions, an id
  /// outside [0, V_s), max_target_length outside [1, max_positions]).
  template <typename Id>
  DecodingState begin_decoding(const std::vector<std::vector<Id>>& sources, Index hypotheses_per_source,
                               Index max_target_length) const {
    static_assert(std::is_integral_v<Id>, "begin_decoding needs integer token ids");
    constexpr std::string_view where = "elm::models::TransformerSeq2Seq::begin_decoding";
    ELM_EXPECT(!sources.empty(), InvalidArgument, where, ": expected at least one source, got none");
    ELM_EXPECT(hypotheses_per_source >= 1, InvalidArgument, where, ": hypotheses_per_source = ",
               hypotheses_per_source, ", expected >= 1");
    ELM_EXPECT(max_target_length >= 1 && max_target_length <= config_.max_positions, RangeError, where,
               ": max_target_length = ", max_target_length, ", expected 1 <= max_target_length <= max_positions = ",
               config_.max_positions);
    // 1) the sources padded to the longest, with their lengths
    const Index N = to_index(sources.size());
    Index S = 0;
    std::vector<Index> lengths(sources.size());
    for (std::size_t n = 0; n < sources.size(); ++n) {
      lengths[n] = to_index(sources[n].size());
      ELM_EXPECT(lengths[n] > 0, InvalidArgument, where, ": source ", n, " is empty, expected at least one token");
      ELM_EXPECT(lengths[n] <= config_.max_positions, RangeError, where, ": source ", n, " has ", lengths[n],
                 " tokens, expected at most max_positions = ", config_.max_positions);
      S = std::max(S, lengths[n]);
    }
    std::vector<Index> ids(to_size(N * S), config_.pad_id);
    for (std::size_t n = 0; n < sources.size(); ++n)
      for (std::size_t s = 0; s < sources[n].size(); ++s) {
        const Index id = static_cast<Index>(sources[n][s]);
        check_token(where, "source", "sequence", n, to_index(s), id, config_.source_vocab_size);
        ids[n * to_size(S) + s] = id;
      }
    // 2) the encoder, once per source; every decoder layer's cross-attention keys and values of its output
    nn::AttentionMask<Scalar> mask;
    mask.key_lengths = lengths;
    Matrix<Scalar> x, memory;
    embed(Side::source, ids, N, 0, x, nullptr, {});
    encoder_.forward(x, N, mask, memory);
    DecodingState state;
    state.memory = decoder_.project_memory(memory, lengths);
    // 3) empty self-attention caches of every hypothesis
    state.self_attention = decoder_.make_kv_caches(N * hypotheses_per_source, max_target_length);
    state.source_of.resize(to_size(N * hypotheses_per_source));
    for (Index i = 0; i < N * hypotheses_per_source; ++i) state.source_of[to_size(i)] = i / hypotheses_per_source;
    return state;
  }

  /// One decoding step: last_tokens holds each live hypothesis's latest token (bos first), which takes position
  /// state.length(); logits: (V_t, hypotheses), the scores of each hypothesis's next token, equal to the
  /// teacher-forced forward's at that position. Id is int or Index. Throws ShapeError (not one token per
  /// hypothesis), RangeError (an id outside [0, V_t), a state already max_length() long; the state is then
  /// unchanged).
  template <typename Id>
  void decode_step(DecodingState& state, const std::vector<Id>& last_tokens, Matrix<Scalar>& logits) const {
    static_assert(std::is_integral_v<Id>, "decode_step needs integer token ids");
    constexpr std::string_view where = "elm::models::TransformerSeq2Seq::decode_step";
    ELM_EXPECT(to_index(last_tokens.size()) == state.hypotheses() && state.hypotheses() > 0, ShapeError, where,
               ": got ", last_tokens.size(), " tokens, expected one per live hypothesis (", state.hypotheses(), ")");
    ELM_EXPECT(state.length() < state.max_length(), RangeError, where, ": the hypotheses hold ", state.length(),
               " tokens already, the max_target_length given to begin_decoding");
    std::vector<Index> ids(last_tokens.size());
    for (std::size_t i = 0; i < last_tokens.size(); ++i) {
      ids[i] = static_cast<Index>(last_tokens[i]);
      check_token(where, "target", "hypothesis", i, state.length(), ids[i], config_.target_vocab_size);
    }
    Matrix<Scalar> x, h;
    embed(Side::target, ids, state.hypotheses(), state.length(), x, nullptr, {});
    decoder_.forward_incremental(x, state.self_attention, state.memory, state.source_of, h);
    if (output_)
      output_->forward(h, logits);
    else
      target_table().project(h, logits);
  }

  /// Beam survivors: hypothesis i continues hypothesis parents[i] (its tokens so far, its source); fewer parents
  /// than hypotheses drop some (finished sources). The sources' memories are kept as they are, not copied.
  /// Throws InvalidArgument for no parents, RangeError for a parent outside [0, hypotheses) (the state is then
  /// unchanged).
  template <typename Id>
  void reorder(DecodingState& state, const std::vector<Id>& parents) const {
    static_assert(std::is_integral_v<Id>, "reorder needs integer hypothesis indices");
    constexpr std::string_view where = "elm::models::TransformerSeq2Seq::reorder";
    ELM_EXPECT(!parents.empty(), InvalidArgument, where, ": expected at least one parent, got none");
    std::vector<Index> rows(parents.size()), source_of(parents.size());
    for (std::size_t i = 0; i < parents.size(); ++i) {
      rows[i] = static_cast<Index>(parents[i]);
      check_id(rows[i], state.hypotheses(), where, "parent");
      source_of[i] = state.source_of[to_size(rows[i])];
    }
    for (auto& cache : state.self_attention) cache.reorder(rows);
    state.source_of = std::move(source_of);
  }

 private:
  enum class Side { source, target };

  nn::Embedding<Scalar>& table(Side side) {
    return side == Side::source || !target_embedding_ ? source_embedding_ : *target_embedding_;
  }
  const nn::Embedding<Scalar>& table(Side side) const {
    return side == Side::source || !target_embedding_ ? source_embedding_ : *target_embedding_;
  }
  nn::Embedding<Scalar>& target_table() { return table(Side::target); }
  const nn::Embedding<Scalar>& target_table() const { return table(Side::target); }

  /// x = drop(E[ids] a + P[offset ..]): ids of B sequences, batch-major -> x: (C, B T).
  void embed(Side side, const std::vector<Index>& ids, Index batch, Index offset, Matrix<Scalar>& x,
             EmbeddingCache* cache, const nn::ForwardContext& context) const {
    Matrix<Scalar> e, p;
    table(side).forward(ids, e, cache ? &cache->tokens : nullptr);
    if (embedding_scale_ != Scalar(1)) e *= embedding_scale_;
    if (sinusoid_)
      sinusoid_->forward(e, batch, offset, p);
    else
      learned_positions_[side == Side::source ? 0 : 1].forward(e, batch, offset, p,
                                                               cache ? &cache->positions : nullptr);
    dropout_.forward(p, x, cache ? &cache->dropout : nullptr, context);
  }

  /// The backward of embed: adds into the table's (and learned positions') gradients from dx (consumed).
  void embed_backward(Side side, const EmbeddingCache& cache, Matrix<Scalar>& dx) {
    Matrix<Scalar> d;
    dropout_.backward(cache.dropout, dx, d);
    if (!sinusoid_) {
      learned_positions_[side == Side::source ? 0 : 1].backward(cache.positions, d, dx);
      d.swap(dx);
    }
    if (embedding_scale_ != Scalar(1)) d *= embedding_scale_;
    table(side).backward(cache.tokens, d);
  }

  /// what: "source" or "target"; row: "sequence" or "hypothesis".
  static void check_token(std::string_view where, const char* what, const char* row, std::size_t sequence,
                          Index position, Index id, Index vocab) {
    ELM_EXPECT(id >= 0 && id < vocab, RangeError, where, ": ", what, " token id ", id, " at position ", position,
               " of ", row, " ", sequence, " is out of range, expected 0 <= id < ", vocab);
  }

  /// Checks the ids, lengths and masks of one side of a batch: B T ids within the vocabulary, T <= max_positions,
  /// an empty or (T, B) mask leaving each sequence a real position.
  void check_side(std::string_view where, const char* what, const std::vector<Index>& ids, const Matrix<bool>& padding,
                  Index batch, Index vocab) const {
    ELM_EXPECT(!ids.empty() && to_index(ids.size()) % batch == 0, ShapeError, where, ": got ", ids.size(), " ", what,
               " ids, expected a positive multiple of B = ", batch, " (B sequences of the same padded length)");
    const Index T = to_index(ids.size()) / batch;
    ELM_EXPECT(T <= config_.max_positions, RangeError, where, ": the ", what, " sequences have ", T,
               " positions, expected at most max_positions = ", config_.max_positions);
    for (Index b = 0; b < batch; ++b)
      for (Index t = 0; t < T; ++t)
        check_token(where, what, "sequence", to_size(b), t, ids[to_size(b * T + t)], vocab);
    if (padding.size() == 0) return;
    check_shape(padding, T, batch, where, std::string(what) + "_padding (T x B, true = padding)");
    for (Index b = 0; b < batch; ++b)
      ELM_EXPECT(!padding.col(b).all(), InvalidArgument, where, ": ", what, " sequence ", b,
                 " is all padding, expected at least one real position");
  }

  void check_batch(const Seq2SeqBatch& batch, std::string_view where) const {
    ELM_EXPECT(batch.batch > 0, InvalidArgument, where, ": batch = ", batch.batch, ", expected B > 0");
    check_side(where, "source", batch.source, batch.source_padding, batch.batch, config_.source_vocab_size);
    check_side(where, "target", batch.target, batch.target_padding, batch.batch, config_.target_vocab_size);
  }

  friend class nn::Composite<TransformerSeq2Seq>;
  // The parameters in order, for Composite's for_each_parameter: Self is TransformerSeq2Seq, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    if (self.target_embedding_) {
      self.source_embedding_.for_each_parameter(nn::join_name(prefix, "source_embedding"), f);
      self.target_embedding_->for_each_parameter(nn::join_name(prefix, "target_embedding"), f);
    } else {
      self.source_embedding_.for_each_parameter(nn::join_name(prefix, "embedding"), f);
    }
    if (!self.learned_positions_.empty()) {
      self.learned_positions_[0].for_each_parameter(nn::join_name(prefix, "source_positions"), f);
      self.learned_positions_[1].for_each_parameter(nn::join_name(prefix, "target_positions"), f);
    }
    self.encoder_.for_each_parameter(nn::join_name(prefix, "encoder"), f);
    self.decoder_.for_each_parameter(nn::join_name(prefix, "decoder"), f);
    if (self.output_) self.output_->for_each_parameter(nn::join_name(prefix, "output_projection"), f);
  }

  TransformerSeq2SeqConfig config_;
  nn::Embedding<Scalar> source_embedding_;                    // also the target's with a shared vocabulary
  std::optional<nn::Embedding<Scalar>> target_embedding_;     // separate vocabularies
  std::optional<nn::SinusoidalPositionalEncoding<Scalar>> sinusoid_;
  std::vector<nn::LearnedPositionalEmbedding<Scalar>> learned_positions_;  // source, target (learned positions)
  nn::TransformerEncoder<Scalar> encoder_;
  nn::TransformerDecoder<Scalar> decoder_;
  std::optional<nn::Linear<Scalar>> output_;                  // the untied head
  nn::Dropout<Scalar> dropout_;
  Scalar embedding_scale_;
};

}  // namespace elm::models
