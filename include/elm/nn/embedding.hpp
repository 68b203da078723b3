// SPDX-License-Identifier: MIT
// Embedding: a lookup table of token vectors, trainable or frozen, optionally filled from pretrained vectors.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/core/workspace.hpp"
#include "elm/nn/detail/dense_products.hpp"
#include "elm/nn/detail/inference_weight.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// PyTorch's nn.Embedding(V, C). Parameter `weight` (V, C), an Eigen (C, V) matrix: column v is token v's
/// vector. A frozen table (set_trainable(false)) receives no gradient.
template <typename Scalar = float>
class Embedding {
  static_assert(std::is_floating_point_v<Scalar>, "Embedding needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: the ids looked up.
  struct Cache {
    std::vector<Index> ids;
  };
  /// What project_backward needs: project's input (and the product kernel's buffers).
  struct ProjectionCache {
    Matrix<Scalar> h;
    elm::detail::Workspace<detail::PackedLhs<Scalar>> products;
  };

  /// Zero-initialised table of V vectors of width C.
  Embedding(Index vocab_size, Index width) : weight_({vocab_size, width}) {
    ELM_EXPECT(vocab_size > 0 && width > 0, InvalidArgument,
               "elm::nn::Embedding: expected vocab_size > 0 and width > 0, got ", vocab_size, " and ", width);
  }

  /// PyTorch's default initialisation: N(0, 1) entries.
  Embedding(Index vocab_size, Index width, Rng& rng) : Embedding(vocab_size, width) { reset_parameters(rng); }

  /// PyTorch's default initialisation: every entry from N(0, 1). (Models whose reference draws otherwise, GPT-2's
  /// N(0, 0.02), fill weight().value themselves.)
  void reset_parameters(Rng& rng) { rng.fill_normal(weight_.value, 0.0, 1.0); }

  /// A table for `vocabulary` filled from pretrained vectors: `vectors` is (C, M), column k the vector of
  /// `words[k]` (as io/word_vectors.hpp reads a word2vec file). Words of the vocabulary that are missing from
  /// `words` get N(0, missing_stddev^2) vectors from rng; `found` (if given) receives how many were present.
  /// Throws ShapeError when words.size() != vectors.cols().
  static Embedding from_pretrained(const Eigen::Ref<const Matrix<Scalar>>& vectors,
                                   const std::vector<std::string>& words,
                                   const std::vector<std::string>& vocabulary, Rng& rng, bool trainable = false,
                                   double missing_stddev = 0.1, Index* found = nullptr) {
    ELM_EXPECT(to_index(words.size()) == vectors.cols(), ShapeError,
               "elm::nn::Embedding::from_pretrained: vectors has ", vectors.cols(), " columns, expected one per word (",
               words.size(), ")");
    ELM_EXPECT(!vocabulary.empty() && vectors.rows() > 0, InvalidArgument,
               "elm::nn::Embedding::from_pretrained: expected a non-empty vocabulary and vectors, got ",
               vocabulary.size(), " words and width ", vectors.rows());
    std::unordered_map<std::string, Index> where;
    where.reserve(words.size());
    for (std::size_t k = 0; k < words.size(); ++k) where.emplace(words[k], to_index(k));
    Embedding table(to_index(vocabulary.size()), vectors.rows());
    Index hits = 0;
    for (std::size_t v = 0; v < vocabulary.size(); ++v) {
      const auto it = where.find(vocabulary[v]);
      if (it != where.end()) {
        table.weight_.value.col(to_index(v)) = vectors.col(it->second);
        ++hits;
      } else {
        for (Index i = 0; i < vectors.rows(); ++i)
          table.weight_.value(i, to_index(v)) = static_cast<Scalar>(rng.normal(0.0, missing_stddev));
      }
    }
    table.set_trainable(trainable);
    if (found) *found = hits;
    return table;
  }

  Index vocab_size() const { return weight_.value.cols(); }
  Index width() const { return weight_.value.rows(); }
  Parameter<Scalar>& weight() { return weight_; }
  const Parameter<Scalar>& weight() const { return weight_; }
  void set_trainable(bool trainable) { weight_.trainable = trainable; }
  bool trainable() const { return weight_.trainable; }

  /// y[:, n] = weight[:, ids[n]].  ids: N token ids -> y: (C, N). Throws RangeError for an id outside [0, V).
  void forward(const std::vector<Index>& ids, Matrix<Scalar>& y, Cache* cache = nullptr,
               const ForwardContext& = {}) const {
    for (Index id : ids) check_id(id, vocab_size(), "elm::nn::Embedding::forward", "token id");
    y.resize(width(), to_index(ids.size()));
    for (std::size_t n = 0; n < ids.size(); ++n) y.col(to_index(n)) = weight_.value.col(ids[n]);
    if (cache) cache->ids = ids;
  }

  /// weight.grad[:, ids[n]] += dy[:, n] (repeated ids add up); nothing when frozen.  dy: (C, N).
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy) {
    check_shape(dy, width(), to_index(cache.ids.size()), "elm::nn::Embedding::backward", "dy");
    if (!weight_.trainable) return;
    for (std::size_t n = 0; n < cache.ids.size(); ++n) weight_.gradient().col(cache.ids[n]) += dy.col(to_index(n));
  }

  /// The tied output head (GPT-2's lm_head, BERT's decoder): logits = E^T h, one score per vocabulary entry
  /// from the same table the inputs were looked up in. h: (C, N) -> logits: (V, N).
  void project(const Eigen::Ref<const Matrix<Scalar>>& h, Matrix<Scalar>& logits, ProjectionCache* cache = nullptr,
               const ForwardContext& = {}) const {
    check_shape(h, width(), -1, "elm::nn::Embedding::project", "h");
    detail::PackedLhs<Scalar> local_products;
    if (!detail::inference_product<Scalar>(weight_.inference, h, 0, vocab_size(), logits, nullptr))
      detail::dense_forward<Scalar>(weight_.value.transpose(), h, logits, nullptr,
                                    cache ? *cache->products : local_products);
    if (cache) cache->h = h;
  }

  /// dh = E dlogits (overwritten); adds h dlogits^T into the table's gradient, on top of what the lookup's
  /// backward adds: a tied model's two uses of the table sum, as autograd sums them. dlogits: (V, N).
  void project_backward(const ProjectionCache& cache, const Eigen::Ref<const Matrix<Scalar>>& dlogits,
                        Matrix<Scalar>& dh) {
    check_shape(dlogits, vocab_size(), cache.h.cols(), "elm::nn::Embedding::project_backward", "dlogits");
    if (weight_.trainable)
      detail::dense_add_weight_grad<Scalar>(cache.h, dlogits, weight_.gradient(), /*grad_transposed=*/true, nullptr,
                                            *products_);
    detail::dense_input_grad<Scalar>(weight_.value.transpose(), dlogits, dh, /*accumulate=*/false, *products_);
  }

  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    f(join_name(prefix, "weight"), weight_);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    f(join_name(prefix, "weight"), weight_);
  }
  void zero_grad() { weight_.zero_grad(); }

 private:
  Parameter<Scalar> weight_;
  elm::detail::Workspace<detail::PackedLhs<Scalar>> products_;  // project_backward's kernel buffers
};

}  // namespace elm::nn
