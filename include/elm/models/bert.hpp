// SPDX-License-Identifier: MIT
// Bert: BERT (Devlin et al. 2019) composed from the library's blocks, with Hugging Face's parameter names, its
// masked-LM and sequence-classification heads, forward and backward, and sentence-transformers' pooling
// (io/bert_hf.hpp reads and writes Hugging Face's model directories).
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/math.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/detail/classifier_loss.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/attention.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/positional_encoding.hpp"
#include "elm/nn/quantized_weights.hpp"
#include "elm/nn/transformer_block.hpp"

namespace elm::models {

/// BERT's sizes and options, Hugging Face BertConfig's names (num_labels and id2label are PretrainedConfig's,
/// read by the classification head only).
struct BertConfig {
  Index vocab_size = 30522;               ///< V
  Index hidden_size = 768;                ///< C
  Index num_hidden_layers = 12;
  Index num_attention_heads = 12;         ///< H, must divide C
  Index intermediate_size = 3072;         ///< F
  nn::ActivationKind hidden_act = nn::ActivationKind::gelu;  ///< the blocks' and the MLM transform's (exact gelu)
  double hidden_dropout_prob = 0.1;       ///< on the embeddings and each block's residual branches
  double attention_probs_dropout_prob = 0.1;
  Index max_position_embeddings = 512;    ///< the longest sequence
  Index type_vocab_size = 2;              ///< token types (segments A and B)
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  /// The padding token: its row of the word embeddings gets no gradient from the lookup (nn.Embedding's
  /// padding_idx) and starts at zero. Empty when config.json has null.
  std::optional<Index> pad_token_id = 0;
  /// The classifier's dropout; empty (null in config.json): hidden_dropout_prob.
  std::optional<double> classifier_dropout;
  Index num_labels = 2;                   ///< the classification head's outputs
  std::vector<std::string> id2label;      ///< the labels' names; empty: LABEL_0 .. LABEL_<num_labels - 1>

  /// The encoder's configuration: TransformerConfig::bert with these sizes, activation, dropouts and epsilon.
  nn::TransformerConfig blocks() const {
    nn::TransformerConfig t = nn::TransformerConfig::bert(hidden_size, num_hidden_layers, num_attention_heads,
                                                          intermediate_size, max_position_embeddings);
    t.dropout = hidden_dropout_prob;
    t.attention_dropout = attention_probs_dropout_prob;
    t.layer_norm_eps = layer_norm_eps;
    t.activation = hidden_act;
    return t;
  }

  double classifier_dropout_p() const { return classifier_dropout.value_or(hidden_dropout_prob); }

  /// The name of label i: id2label[i], or LABEL_i when id2label is empty.
  std::string label_name(Index i) const {
    return id2label.empty() ? "LABEL_" + std::to_string(i) : id2label.at(to_size(i));
  }

  /// Throws InvalidArgument naming the first field out of its domain.
  void check(std::string_view where) const {
    ELM_EXPECT(vocab_size > 0 && vocab_size <= nn::max_transformer_dimension, InvalidArgument, where,
               ": vocab_size = ", vocab_size, ", expected 0 < vocab_size <= 2^31");
    ELM_EXPECT(type_vocab_size > 0 && type_vocab_size <= nn::max_transformer_dimension, InvalidArgument, where,
               ": type_vocab_size = ", type_vocab_size, ", expected 0 < type_vocab_size <= 2^31");
    ELM_EXPECT(!pad_token_id || (*pad_token_id >= 0 && *pad_token_id < vocab_size), InvalidArgument, where,
               ": pad_token_id = ", pad_token_id.value_or(0), ", expected 0 <= pad_token_id < vocab_size = ",
               vocab_size);
    ELM_EXPECT(classifier_dropout_p() >= 0.0 && classifier_dropout_p() < 1.0, InvalidArgument, where,
               ": classifier_dropout = ", classifier_dropout_p(), ", expected 0 <= p < 1");
    ELM_EXPECT(num_labels > 0 && num_labels <= nn::max_transformer_dimension, InvalidArgument, where,
               ": num_labels = ", num_labels, ", expected 0 < num_labels <= 2^31");
    ELM_EXPECT(id2label.empty() || to_index(id2label.size()) == num_labels, InvalidArgument, where, ": id2label has ",
               id2label.size(), " names, expected num_labels = ", num_labels);
    ELM_EXPECT(initializer_range >= 0.0, InvalidArgument, where, ": initializer_range = ", initializer_range,
               ", expected >= 0");
    blocks().check(where);
  }
};

/// B token sequences padded to one length T, as Hugging Face's tokenizers return them (input_ids,
/// token_type_ids, attention_mask), batch-major: sequence b's token t at b T + t.
struct BertBatch {
  Index batch = 0;                    ///< B
  std::vector<Index> input_ids;       ///< B T token ids
  std::vector<Index> token_type_ids;  ///< empty (every token of type 0) or B T ids in [0, type_vocab_size)
  std::vector<Index> attention_mask;  ///< empty (no padding) or B T entries: 1 for a token, 0 for padding

  /// T, the padded length (0 for an empty batch).
  Index length() const { return batch > 0 ? to_index(input_ids.size()) / batch : 0; }

  /// The sequences padded at the end to the longest with pad_token_id (type 0, mask 0). token_types: empty, or
  /// one list per sequence of its length. Throws InvalidArgument for no sequences or only empty ones, ShapeError
  /// when token_types does not match.
  static BertBatch pad(const std::vector<std::vector<Index>>& sequences,
                       const std::vector<std::vector<Index>>& token_types = {}, Index pad_token_id = 0) {
    constexpr std::string_view where = "elm::models::BertBatch::pad";
    ELM_EXPECT(!sequences.empty(), InvalidArgument, where, ": a batch of zero sequences, expected at least one");
    ELM_EXPECT(token_types.empty() || token_types.size() == sequences.size(), ShapeError, where, ": token_types has ",
               token_types.size(), " sequences, expected none or one per sequence (", sequences.size(), ")");
    std::size_t T = 0;
    for (const auto& s : sequences) T = std::max(T, s.size());
    ELM_EXPECT(T > 0, InvalidArgument, where, ": every sequence is empty, expected at least one token");
    BertBatch out;
    out.batch = to_index(sequences.size());
    out.input_ids.assign(sequences.size() * T, pad_token_id);
    out.token_type_ids.assign(sequences.size() * T, 0);
    out.attention_mask.assign(sequences.size() * T, 0);
    for (std::size_t b = 0; b < sequences.size(); ++b) {
      const auto& s = sequences[b];
      ELM_EXPECT(token_types.empty() || token_types[b].size() == s.size(), ShapeError, where, ": token_types[", b,
                 "] has ", token_types.empty() ? 0 : token_types[b].size(), " entries, expected one per token (",
                 s.size(), ")");
      for (std::size_t t = 0; t < s.size(); ++t) {
        out.input_ids[b * T + t] = s[t];
        out.token_type_ids[b * T + t] = token_types.empty() ? 0 : token_types[b][t];
        out.attention_mask[b * T + t] = 1;
      }
    }
    return out;
  }
};

namespace detail {

/// Checks a batch against the config (B > 0, B T ids, T <= max_position_embeddings, ids in [0, V), token types
/// in [0, type_vocab_size), mask entries 0 or 1); returns T. Throws InvalidArgument, ShapeError or RangeError
/// naming the field.
inline Index check_bert_batch(const BertBatch& in, const BertConfig& config, std::string_view where) {
  ELM_EXPECT(in.batch > 0, InvalidArgument, where, ": a batch of zero sequences (batch = ", in.batch,
             "), expected B > 0");
  const Index n = to_index(in.input_ids.size());
  ELM_EXPECT(n > 0 && n % in.batch == 0, ShapeError, where, ": input_ids has ", n,
             " ids, expected a positive multiple of B = ", in.batch);
  const Index T = n / in.batch;
  ELM_EXPECT(T <= config.max_position_embeddings, RangeError, where, ": sequence length T = ", T,
             " exceeds max_position_embeddings = ", config.max_position_embeddings,
             " (truncate the input to the position table)");
  using Field = std::pair<const char*, const std::vector<Index>*>;
  for (const auto& [name, v] :
       {Field{"token_type_ids", &in.token_type_ids}, Field{"attention_mask", &in.attention_mask}})
    ELM_EXPECT(v->empty() || to_index(v->size()) == n, ShapeError, where, ": ", name, " has ", v->size(),
               " entries, expected none or one per input id (", n, ")");
  for (Index id : in.input_ids) check_id(id, config.vocab_size, where, "input id");
  for (Index type : in.token_type_ids)
    ELM_EXPECT(type >= 0 && type < config.type_vocab_size, RangeError, where, ": token type id ", type,
               " is out of range, expected 0 <= token type id < type_vocab_size = ", config.type_vocab_size);
  for (Index m : in.attention_mask)
    ELM_EXPECT(m == 0 || m == 1, InvalidArgument, where, ": attention_mask holds ", m,
               ", expected 1 for a token and 0 for padding");
  return T;
}

/// The attention's mask for a batch's attention_mask, hiding padded keys from every query as BertModel does:
/// B key lengths when every sequence is a non-empty prefix of tokens (end padding, whose hidden tiles the
/// attention skips), else the lowest finite value added to padded keys' scores (Hugging Face's finfo.min: a
/// sequence of padding only attends evenly instead of giving NaN). Padded positions still get outputs.
template <typename Scalar>
nn::AttentionMask<Scalar> bert_attention_mask(const BertBatch& in, Index T) {
  nn::AttentionMask<Scalar> mask;
  if (in.attention_mask.empty()) return mask;
  std::vector<Index> lengths(to_size(in.batch), 0);
  bool prefix = true, padded = false;
  for (Index b = 0; b < in.batch; ++b) {
    const Index* m = in.attention_mask.data() + b * T;
    Index len = 0;
    while (len < T && m[len] == 1) ++len;
    for (Index t = len; t < T; ++t) prefix = prefix && m[t] == 0;
    prefix = prefix && len > 0;
    padded = padded || len < T;
    lengths[to_size(b)] = len;
  }
  if (!padded && prefix) return mask;
  if (prefix) {
    mask.key_lengths = std::move(lengths);
    return mask;
  }
  mask.key_padding_additive.setZero(T, in.batch);
  for (Index b = 0; b < in.batch; ++b)
    for (Index t = 0; t < T; ++t)
      if (in.attention_mask[to_size(b * T + t)] == 0)
        mask.key_padding_additive(t, b) = std::numeric_limits<Scalar>::lowest();
  return mask;
}

/// Hugging Face's initialisation of BERT (BertPreTrainedModel._init_weights): every weight and embedding from
/// N(0, initializer_range^2), biases zero, LayerNorms one and zero, the padding token's word vector zero.
template <typename Module>
void reset_bert_parameters(Module& module, const BertConfig& config, Rng& rng) {
  module.for_each_parameter("", [&](const std::string& name, auto& p) {
    const auto ends_with = [&](std::string_view s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    if (ends_with("LayerNorm.weight"))
      p.value.setOnes();
    else if (ends_with("bias"))
      p.value.setZero();
    else
      rng.fill_normal(p.value, 0.0, config.initializer_range);
    if (ends_with("word_embeddings.weight") && config.pad_token_id) p.value.col(*config.pad_token_id).setZero();
  });
}

}  // namespace detail

/// BERT's encoder, Hugging Face BertModel:
///   x = drop(LN(word[ids] + type[token types] + position[t])); h = encoder(x) (post-norm blocks, exact gelu,
///   padded keys hidden); pooled_b = tanh(W h[:, b T] + c) (the [CLS] position of each sequence).
/// Parameters under BertModel's names: embeddings.word_embeddings.weight (V, C),
/// embeddings.position_embeddings.weight (P, C), embeddings.token_type_embeddings.weight (type_vocab_size, C),
/// embeddings.LayerNorm.*, encoder.layer.<i>.attention.self.{query,key,value}.*, encoder.layer.<i>.attention.
/// output.{dense,LayerNorm}.*, encoder.layer.<i>.intermediate.dense.*, encoder.layer.<i>.output.{dense,LayerNorm}.*,
/// pooler.dense.* (without the pooler when constructed so, as BertForMaskedLM's body). The heads below hold it
/// under "bert.". Reference: Devlin et al. 2019; Hugging Face transformers' BertModel.
template <typename Scalar = float>
class Bert : public nn::Composite<Bert<Scalar>> {
  static_assert(std::is_floating_point_v<Scalar>, "Bert needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  struct Cache {
    typename nn::Embedding<Scalar>::Cache words, token_types;
    typename nn::LearnedPositionalEmbedding<Scalar>::Cache positions;
    typename nn::LayerNorm<Scalar>::Cache norm;
    typename nn::Dropout<Scalar>::Cache dropout;
    typename nn::TransformerEncoder<Scalar>::Cache encoder;
    typename nn::Linear<Scalar>::Cache pooler;
    typename nn::Activation<Scalar>::Cache pooler_activation;
    Index batch = 0;
  };

  /// Zero parameters (load them, or call reset_parameters). Throws InvalidArgument on a bad config.
  explicit Bert(const BertConfig& config, bool add_pooling_layer = true)
      : config_((config.check("elm::models::Bert"), config)),
        word_embeddings_(config.vocab_size, config.hidden_size),
        position_embeddings_(config.max_position_embeddings, config.hidden_size),
        token_type_embeddings_(config.type_vocab_size, config.hidden_size),
        norm_(config.hidden_size, static_cast<Scalar>(config.layer_norm_eps)),
        dropout_(config.hidden_dropout_prob),
        encoder_(config.blocks()),
        has_pooler_(add_pooling_layer),
        pooler_(config.hidden_size, config.hidden_size),
        pooler_activation_(nn::ActivationKind::tanh) {}

  /// Shorthand for the zero model followed by reset_parameters(rng).
  Bert(const BertConfig& config, Rng& rng, bool add_pooling_layer = true) : Bert(config, add_pooling_layer) {
    reset_parameters(rng);
  }

  /// Hugging Face's initialisation: weights and embeddings from N(0, initializer_range^2), biases zero, LayerNorms
  /// one and zero, the padding token's word vector zero.
  void reset_parameters(Rng& rng) { detail::reset_bert_parameters(*this, config_, rng); }

  const BertConfig& config() const noexcept { return config_; }
  bool has_pooler() const noexcept { return has_pooler_; }
  nn::Embedding<Scalar>& word_embeddings() noexcept { return word_embeddings_; }
  const nn::Embedding<Scalar>& word_embeddings() const noexcept { return word_embeddings_; }
  nn::TransformerEncoder<Scalar>& encoder() noexcept { return encoder_; }
  const nn::TransformerEncoder<Scalar>& encoder() const noexcept { return encoder_; }

  /// in: B sequences of T tokens -> hidden: (C, B T) (BertModel's last_hidden_state, column b T + t), pooled:
  /// (C, B) (its pooler_output; left empty without a pooler). Dropout in a training context. Throws
  /// InvalidArgument for B = 0 or a mask entry other than 0 and 1, ShapeError for sizes that do not match B T,
  /// RangeError for an id outside [0, V), a token type outside [0, type_vocab_size) or T >
  /// max_position_embeddings.
  void forward(const BertBatch& in, Matrix<Scalar>& hidden, Matrix<Scalar>& pooled, Cache* cache = nullptr,
               const nn::ForwardContext& context = {}) const {
    const Index T = detail::check_bert_batch(in, config_, "elm::models::Bert::forward");
    const Index B = in.batch;
    const std::vector<Index> no_types(in.token_type_ids.empty() ? in.input_ids.size() : 0, 0);
    const std::vector<Index>& types = in.token_type_ids.empty() ? no_types : in.token_type_ids;
    // 1) embeddings: word + token type + position, LayerNorm, dropout. (C, B T)
    Matrix<Scalar> e, t, x;
    word_embeddings_.forward(in.input_ids, e, cache ? &cache->words : nullptr);
    token_type_embeddings_.forward(types, t, cache ? &cache->token_types : nullptr);
    e += t;
    position_embeddings_.forward(e, B, 0, x, cache ? &cache->positions : nullptr);
    norm_.forward(x, e, cache ? &cache->norm : nullptr);
    dropout_.forward(e, x, cache ? &cache->dropout : nullptr, context);
    // 2) the post-norm encoder, padded keys hidden. (C, B T)
    encoder_.forward(x, B, detail::bert_attention_mask<Scalar>(in, T), hidden, cache ? &cache->encoder : nullptr,
                     context);
    if (cache) cache->batch = B;
    // 3) the pooler on each sequence's first position ([CLS]). (C, B)
    if (!has_pooler_) {
      pooled.resize(0, 0);
      return;
    }
    Matrix<Scalar> first(config_.hidden_size, B);
    for (Index b = 0; b < B; ++b) first.col(b) = hidden.col(b * T);
    pooler_.forward(first, t, cache ? &cache->pooler : nullptr);
    pooler_activation_.forward(t, pooled, cache ? &cache->pooler_activation : nullptr);
  }

  /// Keeps the weights of the encoder's dense layers (attention's query, key, value and output projections, the
  /// feed-forward's two layers) and the pooler's in `dtype` for inference: forward multiplies by them
  /// (nn::QuantizedWeights: bf16, or int8 blocks as llama.cpp's Q8_0; activations, LayerNorms and the embeddings'
  /// lookups stay float32); f32 goes back to the float32 parameters. The parameters stay float32 (saving writes
  /// them); training needs f32 (backward throws otherwise), and a parameter changed after this call is not seen
  /// until it is called again. Throws InvalidArgument for bf16 or int8 on a model whose Scalar is not float,
  /// NumericalError for a weight that is not finite (the model is then unchanged).
  void set_weight_dtype(nn::WeightDType dtype) {
    // every dense weight is torch.nn.Linear's (out, in); the embeddings are lookups
    nn::set_inference_weights<Scalar>(
        *this, dtype,
        [](const std::string& name, const nn::Parameter<float>& p) {
          const bool lookup = name.rfind("embeddings.", 0) == 0;
          return p.shape.size() == 2 && !lookup ? nn::InferenceOrientation::transposed : nn::InferenceOrientation::none;
        },
        "elm::models::Bert::set_weight_dtype");
    weight_dtype_ = dtype;
  }

  /// How the dense layers' weights are kept for inference (set_weight_dtype; f32 unless changed).
  nn::WeightDType weight_dtype() const noexcept { return weight_dtype_; }

  /// Adds every parameter's gradient from dhidden: (C, B T) and dpooled: (C, B); either may be empty (0 x 0),
  /// meaning zero (a masked-LM head uses only the first, a classifier only the second).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dhidden,
                const Eigen::Ref<const Matrix<Scalar>>& dpooled) {
    constexpr std::string_view where = "elm::models::Bert::backward";
    nn::require_f32_weights(weight_dtype_, where);
    const Index B = cache.batch, N = to_index(cache.words.ids.size()), T = N / B;
    Matrix<Scalar> g, dx, t;
    if (dhidden.size() == 0)
      g.setZero(config_.hidden_size, N);
    else {
      check_shape(dhidden, config_.hidden_size, N, where, "dhidden");
      g = dhidden;
    }
    // 3) the pooler: its gradient reaches each sequence's first position
    ELM_EXPECT(has_pooler_ || dpooled.size() == 0, InvalidArgument, where,
               ": got a gradient of the pooled output, but this model has no pooler");
    if (has_pooler_ && dpooled.size() != 0) {
      check_shape(dpooled, config_.hidden_size, B, where, "dpooled");
      pooler_activation_.backward(cache.pooler_activation, dpooled, t);
      pooler_.backward(cache.pooler, t, dx);
      for (Index b = 0; b < B; ++b) g.col(b * T) += dx.col(b);
    }
    // 2) the encoder, 1) the embeddings
    encoder_.backward(cache.encoder, g, dx);
    dropout_.backward(cache.dropout, dx, t);
    norm_.backward(cache.norm, t, dx);
    position_embeddings_.backward(cache.positions, dx, t);
    token_type_embeddings_.backward(cache.token_types, t);
    // nn.Embedding(padding_idx = pad_token_id): the padding token's lookups add nothing to its vector
    if (config_.pad_token_id)
      for (Index n = 0; n < N; ++n)
        if (cache.words.ids[to_size(n)] == *config_.pad_token_id) t.col(n).setZero();
    word_embeddings_.backward(cache.words, t);
  }

 private:
  friend class nn::Composite<Bert>;
  // The parameters in BertModel's order, for Composite's for_each_parameter: Self is Bert, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    const std::string embeddings = nn::join_name(prefix, "embeddings");
    self.word_embeddings_.for_each_parameter(nn::join_name(embeddings, "word_embeddings"), f);
    self.position_embeddings_.for_each_parameter(nn::join_name(embeddings, "position_embeddings"), f);
    self.token_type_embeddings_.for_each_parameter(nn::join_name(embeddings, "token_type_embeddings"), f);
    self.norm_.for_each_parameter(nn::join_name(embeddings, "LayerNorm"), f);
    self.encoder_.for_each_parameter(prefix, f);
    if (self.has_pooler_) self.pooler_.for_each_parameter(nn::join_name(prefix, "pooler.dense"), f);
  }

  BertConfig config_;
  nn::Embedding<Scalar> word_embeddings_;
  nn::LearnedPositionalEmbedding<Scalar> position_embeddings_;
  nn::Embedding<Scalar> token_type_embeddings_;
  nn::LayerNorm<Scalar> norm_;
  nn::Dropout<Scalar> dropout_;
  nn::TransformerEncoder<Scalar> encoder_;
  bool has_pooler_;
  nn::Linear<Scalar> pooler_;
  nn::Activation<Scalar> pooler_activation_;
  nn::WeightDType weight_dtype_ = nn::WeightDType::f32;
};

/// How sentence-transformers' Pooling module makes one vector of a sequence's token vectors: their mean or maximum
/// over the attention mask, or the first ([CLS]) position.
enum class SentencePooling { mean, max, cls };

/// Sentence embeddings as sentence-transformers computes them from BertModel's hidden states: its Pooling module
/// (mean: sum over the tokens whose mask is 1 divided by their count, at least 1e-9; max: the largest entry of
/// those tokens; cls: position 0), then, when normalize, its Normalize module (x / max(|x|_2, 1e-12)).
/// hidden: (C, B T) for `in`'s B sequences of T positions -> (C, B). Throws ShapeError when hidden does not have
/// B T columns.
template <typename Scalar>
Matrix<Scalar> pool_sentences(const Eigen::Ref<const Matrix<Scalar>>& hidden, const BertBatch& in,
                              SentencePooling pooling = SentencePooling::mean, bool normalize = true) {
  constexpr std::string_view where = "elm::models::pool_sentences";
  ELM_EXPECT(in.batch > 0, InvalidArgument, where, ": a batch of zero sequences, expected B > 0");
  const Index B = in.batch, T = in.length();
  check_shape(hidden, -1, B * T, where, "hidden");
  const auto token = [&](Index b, Index t) {
    return in.attention_mask.empty() || in.attention_mask[to_size(b * T + t)] != 0;
  };
  Matrix<Scalar> out(hidden.rows(), B);
  for (Index b = 0; b < B; ++b) {
    if (pooling == SentencePooling::cls) {
      out.col(b) = hidden.col(b * T);
    } else if (pooling == SentencePooling::max) {
      // sentence-transformers sets padded positions to -1e9 before the maximum
      out.col(b).setConstant(Scalar(-1e9));
      for (Index t = 0; t < T; ++t)
        if (token(b, t)) out.col(b) = out.col(b).cwiseMax(hidden.col(b * T + t));
    } else {
      Index count = 0;
      out.col(b).setZero();
      for (Index t = 0; t < T; ++t)
        if (token(b, t)) {
          out.col(b) += hidden.col(b * T + t);
          ++count;
        }
      out.col(b) /= std::max(static_cast<Scalar>(count), Scalar(1e-9));
    }
    if (normalize) out.col(b) /= std::max(out.col(b).norm(), Scalar(1e-12));
  }
  return out;
}

namespace detail {

/// What the heads share: the encoder (their parameters bert.*), Hugging Face's initialisation of all their
/// parameters, the accessors. Derived (CRTP) adds its layers, its forward and backward and its parameter visit.
template <typename Derived, typename Scalar>
class BertHead : public nn::Composite<Derived> {
 public:
  using scalar_type = Scalar;

  /// Hugging Face's initialisation (see Bert::reset_parameters); the heads' biases zero.
  void reset_parameters(Rng& rng) { reset_bert_parameters(static_cast<Derived&>(*this), bert_.config(), rng); }

  const BertConfig& config() const noexcept { return bert_.config(); }
  Bert<Scalar>& bert() noexcept { return bert_; }
  const Bert<Scalar>& bert() const noexcept { return bert_; }

 protected:
  BertHead(const BertConfig& config, bool add_pooling_layer) : bert_(config, add_pooling_layer) {}

  Bert<Scalar> bert_;
};

}  // namespace detail

/// BERT with its masked-language-model head, Hugging Face BertForMaskedLM:
///   logits = E^T LN(act(W h + c)) + bias, h = Bert(in) without pooler, E the word embeddings (the decoder is
///   tied to them). Parameters bert.* (Bert's names), cls.predictions.bias (V), cls.predictions.transform.dense.*,
///   cls.predictions.transform.LayerNorm.*. logits: (V, B T), one column per position; train with
///   nn::cross_entropy against labels that are -100 except at the masked positions.
template <typename Scalar = float>
class BertForMaskedLM : public detail::BertHead<BertForMaskedLM<Scalar>, Scalar> {
  static_assert(std::is_floating_point_v<Scalar>, "BertForMaskedLM needs a floating-point Scalar");
  using Base = detail::BertHead<BertForMaskedLM<Scalar>, Scalar>;
  using Base::bert_;

 public:
  struct Cache {
    typename Bert<Scalar>::Cache bert;
    typename nn::Linear<Scalar>::Cache dense;
    typename nn::Activation<Scalar>::Cache activation;
    typename nn::LayerNorm<Scalar>::Cache norm;
    typename nn::Embedding<Scalar>::ProjectionCache decoder;
    bool gathered = false;        ///< forward_at: the head ran at `columns` only
    std::vector<Index> columns;  ///< forward_at's columns of the B T positions
  };

  /// Zero parameters (load them, or call reset_parameters). Throws InvalidArgument on a bad config.
  explicit BertForMaskedLM(const BertConfig& config)
      : Base(config, /*add_pooling_layer=*/false),
        dense_(config.hidden_size, config.hidden_size),
        activation_(config.hidden_act),
        norm_(config.hidden_size, static_cast<Scalar>(config.layer_norm_eps)),
        bias_({config.vocab_size}) {}

  /// Shorthand for the zero model followed by reset_parameters(rng) (Hugging Face's initialisation).
  BertForMaskedLM(const BertConfig& config, Rng& rng) : BertForMaskedLM(config) { this->reset_parameters(rng); }

  /// in: B sequences of T tokens -> logits: (V, B T). Throws as Bert::forward.
  void forward(const BertBatch& in, Matrix<Scalar>& logits, Cache* cache = nullptr,
               const nn::ForwardContext& context = {}) const {
    Matrix<Scalar> h, unused;
    bert_.forward(in, h, unused, cache ? &cache->bert : nullptr, context);
    if (cache) {
      cache->gathered = false;
      cache->columns.clear();
    }
    head(h, logits, cache);
  }

  /// As forward, but the prediction head runs only at `columns` (indices b T + t of the B T positions, e.g. the
  /// masked positions of a training batch, the only ones the masked-LM loss reads): logits (V, columns.size()),
  /// column i that of position columns[i]. The decoder's V x C product, the largest of a small model, then costs
  /// a fraction of forward's. Throws as forward, and RangeError for a column outside [0, B T).
  void forward_at(const BertBatch& in, const std::vector<Index>& columns, Matrix<Scalar>& logits,
                  Cache* cache = nullptr, const nn::ForwardContext& context = {}) const {
    Matrix<Scalar> h, unused;
    bert_.forward(in, h, unused, cache ? &cache->bert : nullptr, context);
    Matrix<Scalar> picked(h.rows(), to_index(columns.size()));
    for (std::size_t i = 0; i < columns.size(); ++i) {
      check_id(columns[i], h.cols(), "elm::models::BertForMaskedLM::forward_at", "column");
      picked.col(to_index(i)) = h.col(columns[i]);
    }
    if (cache) {
      cache->gathered = true;
      cache->columns = columns;
    }
    head(picked, logits, cache);
  }

  /// Adds every parameter's gradient from dlogits: (V, B T), or (V, columns) after forward_at; the word
  /// embeddings' two uses add up.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    bias_.gradient().col(0) += row_sums(dlogits);
    Matrix<Scalar> da, dh;
    bert_.word_embeddings().project_backward(cache.decoder, dlogits, da);
    norm_.backward(cache.norm, da, dh);
    activation_.backward(cache.activation, dh, da);
    dense_.backward(cache.dense, da, dh);
    if (cache.gathered) {  // forward_at: the head's gradient goes back to its columns, zero elsewhere
      da.setZero(dh.rows(), to_index(cache.bert.words.ids.size()));
      for (std::size_t i = 0; i < cache.columns.size(); ++i) da.col(cache.columns[i]) += dh.col(to_index(i));
      dh.swap(da);
    }
    bert_.backward(cache.bert, dh, Matrix<Scalar>());
  }

 private:
  // The prediction head at hidden states h: (C, N) -> logits (V, N).
  void head(const Matrix<Scalar>& h, Matrix<Scalar>& logits, Cache* cache) const {
    Matrix<Scalar> a, b;
    // the transform: dense, activation, LayerNorm. (C, N)
    dense_.forward(h, a, cache ? &cache->dense : nullptr);
    activation_.forward(a, b, cache ? &cache->activation : nullptr);
    norm_.forward(b, a, cache ? &cache->norm : nullptr);
    // the decoder, tied to the word embeddings, and its bias. (V, N)
    bert_.word_embeddings().project(a, logits, cache ? &cache->decoder : nullptr);
    logits.colwise() += bias_.value.col(0);
  }

  friend class nn::Composite<BertForMaskedLM>;
  // The parameters in BertForMaskedLM's order, for Composite's for_each_parameter.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.bert_.for_each_parameter(nn::join_name(prefix, "bert"), f);
    const std::string predictions = nn::join_name(prefix, "cls.predictions");
    f(nn::join_name(predictions, "bias"), self.bias_);
    self.dense_.for_each_parameter(nn::join_name(predictions, "transform.dense"), f);
    self.norm_.for_each_parameter(nn::join_name(predictions, "transform.LayerNorm"), f);
  }

  nn::Linear<Scalar> dense_;
  nn::Activation<Scalar> activation_;
  nn::LayerNorm<Scalar> norm_;
  nn::Parameter<Scalar> bias_;
};

/// BERT with a classification head on the pooled output, Hugging Face BertForSequenceClassification:
/// logits = W drop(pooled) + c, (num_labels, B). Parameters bert.* (Bert's names, with the pooler),
/// classifier.weight (num_labels, C), classifier.bias. Train with nn::cross_entropy against B class ids.
template <typename Scalar = float>
class BertForSequenceClassification : public detail::BertHead<BertForSequenceClassification<Scalar>, Scalar> {
  static_assert(std::is_floating_point_v<Scalar>, "BertForSequenceClassification needs a floating-point Scalar");
  using Base = detail::BertHead<BertForSequenceClassification<Scalar>, Scalar>;
  using Base::bert_;

 public:
  struct Cache {
    typename Bert<Scalar>::Cache bert;
    typename nn::Dropout<Scalar>::Cache dropout;
    typename nn::Linear<Scalar>::Cache classifier;
  };

  /// Zero parameters (load them, or call reset_parameters). Throws InvalidArgument on a bad config.
  explicit BertForSequenceClassification(const BertConfig& config)
      : Base(config, /*add_pooling_layer=*/true),
        dropout_(config.classifier_dropout_p()),
        classifier_(config.hidden_size, config.num_labels) {}

  /// Shorthand for the zero model followed by reset_parameters(rng) (Hugging Face's initialisation).
  BertForSequenceClassification(const BertConfig& config, Rng& rng) : BertForSequenceClassification(config) {
    this->reset_parameters(rng);
  }

  /// in: B sequences -> logits: (num_labels, B). Throws as Bert::forward.
  void forward(const BertBatch& in, Matrix<Scalar>& logits, Cache* cache = nullptr,
               const nn::ForwardContext& context = {}) const {
    Matrix<Scalar> h, pooled, d;
    bert_.forward(in, h, pooled, cache ? &cache->bert : nullptr, context);
    dropout_.forward(pooled, d, cache ? &cache->dropout : nullptr, context);
    classifier_.forward(d, logits, cache ? &cache->classifier : nullptr);
  }

  /// Adds every parameter's gradient from dlogits: (num_labels, B).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    Matrix<Scalar> dd, dpooled;
    classifier_.backward(cache.classifier, dlogits, dd);
    dropout_.backward(cache.dropout, dd, dpooled);
    bert_.backward(cache.bert, Matrix<Scalar>(), dpooled);
  }

  /// The cross-entropy of the B sequences' class ids, summed over them (not averaged: a trainer divides by the
  /// examples of a whole step), and its gradient added into the parameters': forward in `context` (dropout when
  /// training), backward. logits, when given, receives the forward's (num_labels, B). Throws as forward, and
  /// ShapeError / RangeError for labels that are not B ids in [0, num_labels).
  Scalar loss_and_backward(const BertBatch& in, const std::vector<Index>& labels,
                           const nn::ForwardContext& context = {}, Matrix<Scalar>* logits = nullptr) {
    return detail::classifier_loss_and_backward<Scalar>(*this, in, labels, context, logits);
  }

 private:
  friend class nn::Composite<BertForSequenceClassification>;
  // The parameters in BertForSequenceClassification's order, for Composite's for_each_parameter.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.bert_.for_each_parameter(nn::join_name(prefix, "bert"), f);
    self.classifier_.for_each_parameter(nn::join_name(prefix, "classifier"), f);
  }

  nn::Dropout<Scalar> dropout_;
  nn::Linear<Scalar> classifier_;
};

}  // namespace elm::models
