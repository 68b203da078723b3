// SPDX-License-Identifier: MIT
// TextCnn: Kim (2014)'s convolutional sentence classifier: word embeddings, 1-D convolutions of several widths,
// ReLU, max-over-time pooling, dropout and a linear classifier.
#pragma once

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/detail/classifier_loss.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/conv1d.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/pooling.hpp"

namespace elm::models {

/// TextCnn's sizes; the defaults are Kim (2014)'s (filter widths 3, 4, 5 with 100 maps each, dropout 0.5).
struct TextCnnConfig {
  Index vocab_size = 0;                     ///< V, the pad id included
  Index embedding_dim = 128;                ///< E, the word vectors' width
  std::vector<Index> kernel_sizes{3, 4, 5};  ///< the filter widths, in tokens
  Index filters = 100;                      ///< feature maps per width
  Index num_labels = 2;                     ///< classes
  double dropout = 0.5;                     ///< on the pooled features, before the classifier
  Index pad_id = 0;                         ///< the id that fills short sequences: a zero vector, never trained
};

/// Kim (2014), "Convolutional Neural Networks for Sentence Classification" (the CNN-rand variant: embeddings learnt
/// from scratch), for a batch of B token sequences of any lengths >= 1:
///   1) each sequence is padded with pad_id to L_b = max(its length, the widest filter), and the batch to
///      L = max_b L_b; the pad id's vector is zero (as PyTorch's padding_idx), x: (E, B*L);
///   2) for each width k: c_k = ReLU(Conv1d_k(x)) (F, B*(L-k+1)), then max over the positions t < L_b - k + 1 of
///      each sequence (its own windows only, so a sequence scores the same alone and in any batch): (F, B);
///   3) h = dropout([pooled_k ...]) (F K, B), logits = W h + b (num_labels, B).
/// Parameters: embedding.weight (V, E), convs.<i>.weight (F, E, k_i), convs.<i>.bias (F), fc.weight
/// (num_labels, F K), fc.bias (num_labels); PyTorch's default initialisation of each layer.
template <typename Scalar = float>
class TextCnn : public nn::Composite<TextCnn<Scalar>> {
  static_assert(std::is_floating_point_v<Scalar>, "TextCnn needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: every layer's cache and the batch's sizes.
  struct Cache {
    typename nn::Embedding<Scalar>::Cache embedding;
    std::vector<Index> pad_columns;  // columns of x that are padding
    std::vector<typename nn::Conv1d<Scalar>::Cache> convs;
    std::vector<typename nn::Activation<Scalar>::Cache> relus;
    std::vector<typename nn::GlobalPool<Scalar>::Cache> pools;
    typename nn::Dropout<Scalar>::Cache dropout;
    typename nn::Linear<Scalar>::Cache fc;
    Index batch = 0, length = 0;
  };

  /// Throws InvalidArgument for sizes < 1, no filter widths, num_labels < 2, dropout outside [0, 1) or a pad id
  /// outside [0, V).
  TextCnn(const TextCnnConfig& config, Rng& rng)
      : config_(checked(config)),
        embedding_(config.vocab_size, config.embedding_dim),
        relu_(nn::ActivationKind::relu),
        pool_(nn::Pooling::max),
        dropout_(config.dropout),
        fc_(config.filters * to_index(config.kernel_sizes.size()), config.num_labels) {
    for (Index k : config.kernel_sizes)
      convs_.emplace_back(nn::Conv1dConfig{config.embedding_dim, config.filters, k});
    reset_parameters(rng);
  }

  /// PyTorch's default initialisation of each layer (embeddings N(0, 1), the pad id's vector zero).
  void reset_parameters(Rng& rng) {
    embedding_.reset_parameters(rng);
    embedding_.weight().value.col(config_.pad_id).setZero();
    for (auto& conv : convs_) conv.reset_parameters(rng);
    fc_.reset_parameters(rng);
  }

  const TextCnnConfig& config() const { return config_; }
  Index widest_filter() const { return *std::max_element(config_.kernel_sizes.begin(), config_.kernel_sizes.end()); }

  /// logits: (num_labels, B), one column per sequence (a pad id inside a sequence reads as padding too: a zero
  /// vector). Throws InvalidArgument for no sequences or an empty one, RangeError for a token id outside [0, V).
  void forward(const std::vector<std::vector<Index>>& sequences, Matrix<Scalar>& logits, Cache* cache = nullptr,
               const nn::ForwardContext& context = {}) const {
    constexpr std::string_view where = "elm::models::TextCnn::forward";
    ELM_EXPECT(!sequences.empty(), InvalidArgument, where, ": no sequences, expected a batch of at least one");
    const Index batch = to_index(sequences.size());
    const Index widest = widest_filter();
    // 1) padded ids and each sequence's own padded length
    std::vector<Index> lengths(to_size(batch));
    Index length = 0;
    for (std::size_t b = 0; b < sequences.size(); ++b) {
      ELM_EXPECT(!sequences[b].empty(), InvalidArgument, where, ": sequence ", b,
                 " is empty, expected at least one token");
      lengths[b] = std::max(to_index(sequences[b].size()), widest);
      length = std::max(length, lengths[b]);
    }
    std::vector<Index> ids(to_size(batch * length), config_.pad_id);
    std::vector<Index> pad_columns;
    for (std::size_t b = 0; b < sequences.size(); ++b)
      for (Index t = 0; t < length; ++t) {
        const Index column = to_index(b) * length + t;
        if (t < to_index(sequences[b].size())) ids[to_size(column)] = sequences[b][to_size(t)];
        if (ids[to_size(column)] == config_.pad_id) pad_columns.push_back(column);
      }
    Matrix<Scalar> x;
    embedding_.forward(ids, x, cache ? &cache->embedding : nullptr, context);
    for (Index column : pad_columns) x.col(column).setZero();  // the pad vector stays zero whatever training did
    // 2) each width: convolution, ReLU, max over the sequence's own windows (the others set to -inf)
    const Index F = config_.filters;
    Matrix<Scalar> features(F * to_index(convs_.size()), batch), conv_out, activated, pooled;
    if (cache) {
      cache->convs.resize(convs_.size());
      cache->relus.resize(convs_.size());
      cache->pools.resize(convs_.size());
    }
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      const Index k = config_.kernel_sizes[i];
      const Index windows = length - k + 1;
      convs_[i].forward(x, batch, conv_out, cache ? &cache->convs[i] : nullptr, context);
      relu_.forward(conv_out, activated, cache ? &cache->relus[i] : nullptr, context);
      for (Index b = 0; b < batch; ++b)
        activated.middleCols(b * windows + lengths[to_size(b)] - k + 1, length - lengths[to_size(b)])
            .setConstant(-std::numeric_limits<Scalar>::infinity());
      pool_.forward(activated, batch, pooled, cache ? &cache->pools[i] : nullptr, context);
      features.middleRows(to_index(i) * F, F) = pooled;
    }
    // 3) dropout and the classifier
    Matrix<Scalar> dropped;
    dropout_.forward(features, dropped, cache ? &cache->dropout : nullptr, context);
    fc_.forward(dropped, logits, cache ? &cache->fc : nullptr, context);
    if (cache) {
      cache->pad_columns = std::move(pad_columns);
      cache->batch = batch;
      cache->length = length;
    }
  }

  /// Adds every parameter's gradient from dlogits (num_labels, B); the pad id's vector receives none.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    constexpr std::string_view where = "elm::models::TextCnn::backward";
    ELM_EXPECT(cache.batch > 0, InvalidArgument, where, ": the cache holds no forward pass");
    check_shape(dlogits, config_.num_labels, cache.batch, where, "dlogits");
    Matrix<Scalar> dfeatures, ddropped, dpooled, dactivated, dconv, dx_k;
    fc_.backward(cache.fc, dlogits, ddropped);
    dropout_.backward(cache.dropout, ddropped, dfeatures);
    const Index F = config_.filters;
    Matrix<Scalar> dx = Matrix<Scalar>::Zero(config_.embedding_dim, cache.batch * cache.length);
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      dpooled = dfeatures.middleRows(to_index(i) * F, F);
      pool_.backward(cache.pools[i], dpooled, dactivated);  // zero at the positions set to -inf
      relu_.backward(cache.relus[i], dactivated, dconv);
      convs_[i].backward(cache.convs[i], dconv, dx_k);
      dx += dx_k;
    }
    for (Index column : cache.pad_columns) dx.col(column).setZero();
    embedding_.backward(cache.embedding, dx);
  }

  /// The summed cross-entropy of the batch against labels (one class id per sequence), its gradients added into
  /// every parameter; logits (if given) receives the forward's. A Trainer step function.
  Scalar loss_and_backward(const std::vector<std::vector<Index>>& sequences, const std::vector<Index>& labels,
                           const nn::ForwardContext& context = {}, Matrix<Scalar>* logits = nullptr) {
    return detail::classifier_loss_and_backward<Scalar>(*this, sequences, labels, context, logits);
  }

 private:
  friend class nn::Composite<TextCnn>;
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.embedding_.for_each_parameter(nn::join_name(prefix, "embedding"), f);
    for (std::size_t i = 0; i < self.convs_.size(); ++i)
      self.convs_[i].for_each_parameter(nn::join_name(nn::join_name(prefix, "convs"), std::to_string(i)), f);
    self.fc_.for_each_parameter(nn::join_name(prefix, "fc"), f);
  }

  static const TextCnnConfig& checked(const TextCnnConfig& c) {
    constexpr std::string_view where = "elm::models::TextCnn";
    ELM_EXPECT(c.vocab_size >= 1 && c.embedding_dim >= 1 && c.filters >= 1 && !c.kernel_sizes.empty(),
               InvalidArgument, where, ": expected vocab_size, embedding_dim, filters >= 1 and at least one filter "
               "width, got ", c.vocab_size, ", ", c.embedding_dim, ", ", c.filters, " and ", c.kernel_sizes.size(),
               " widths");
    for (Index k : c.kernel_sizes)
      ELM_EXPECT(k >= 1, InvalidArgument, where, ": expected filter widths >= 1, got ", k);
    ELM_EXPECT(c.num_labels >= 2 && c.dropout >= 0.0 && c.dropout < 1.0, InvalidArgument, where,
               ": expected num_labels >= 2 and 0 <= dropout < 1, got ", c.num_labels, " and ", c.dropout);
    ELM_EXPECT(c.pad_id >= 0 && c.pad_id < c.vocab_size, InvalidArgument, where, ": pad_id ", c.pad_id,
               " is outside [0, ", c.vocab_size, ")");
    return c;
  }

  TextCnnConfig config_;
  nn::Embedding<Scalar> embedding_;
  std::vector<nn::Conv1d<Scalar>> convs_;
  nn::Activation<Scalar> relu_;
  nn::GlobalPool<Scalar> pool_;
  nn::Dropout<Scalar> dropout_;
  nn::Linear<Scalar> fc_;
};

}  // namespace elm::models
