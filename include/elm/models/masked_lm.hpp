// SPDX-License-Identifier: MIT
// Masked language modelling with BERT: the masking of its pretraining (15 % of the tokens; of those 80 % [MASK],
// 10 % a random token, 10 % unchanged; optionally whole words), as Hugging Face's DataCollatorForLanguageModeling
// makes training batches, and fill-mask inference (the k most likely tokens and their probabilities at each
// [MASK]), as its fill-mask pipeline.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/bert.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"

namespace elm::models {

/// The masking of BERT's pretraining (Devlin et al. 2019, section 3.1 and appendix A.1), with
/// DataCollatorForLanguageModeling's parameters: each eligible token (not special, not padding) is selected with
/// `probability`; a selected token is replaced by [MASK] with probability mask_fraction, by a token drawn uniformly
/// from the vocabulary with probability random_fraction, and left as it is otherwise. The labels hold the original
/// id at the selected positions and -100 elsewhere.
struct MaskingOptions {
  double probability = 0.15;     ///< mlm_probability
  double mask_fraction = 0.8;    ///< mask_replace_prob
  double random_fraction = 0.1;  ///< random_replace_prob; 1 - mask_fraction - random_fraction stay unchanged
  /// Select words, not tokens: a token and the WordPiece continuations ("##...") that follow it are selected
  /// together (whole-word masking); each selected token is then replaced as above.
  bool whole_word = false;

  /// Throws InvalidArgument naming the first value out of range.
  void check(std::string_view where) const {
    ELM_EXPECT(probability >= 0.0 && probability <= 1.0, InvalidArgument, where,
               ": masking probability = ", probability, ", expected 0 <= probability <= 1");
    ELM_EXPECT(mask_fraction >= 0.0 && random_fraction >= 0.0 && mask_fraction + random_fraction <= 1.0,
               InvalidArgument, where, ": mask_fraction = ", mask_fraction, " and random_fraction = ",
               random_fraction, ", expected both >= 0 with a sum <= 1");
  }
};

/// A batch for the masked-LM loss: the inputs with the selected tokens replaced, and B T labels (the original id
/// at each selected position, -100 elsewhere, as nn::cross_entropy ignores them).
struct MaskedBatch {
  BertBatch inputs;
  std::vector<Index> labels;

  /// The selected positions b T + t, in order (the columns for BertForMaskedLM::forward_at).
  std::vector<Index> positions() const {
    std::vector<Index> out;
    for (std::size_t n = 0; n < labels.size(); ++n)
      if (labels[n] != -100) out.push_back(to_index(n));
    return out;
  }
  /// The labels at positions(), in the same order.
  std::vector<Index> targets() const {
    std::vector<Index> out;
    for (Index label : labels)
      if (label != -100) out.push_back(label);
    return out;
  }
};

/// Masks batches for masked-LM training. Draws from the Rng it is given, one uniform number per eligible token
/// (per word under whole_word) for the selection, then one per selected token for its replacement (and one more
/// for a random token), so the same seed gives the same masks; the draws are elm's own, not PyTorch's.
class TokenMasker {
 public:
  /// vocab_size: V, the range of the random replacements; mask_id: [MASK]; special_ids: never selected (padding,
  /// attention_mask 0, never is either); continuation: empty, or V flags marking WordPiece continuations (needed
  /// by whole_word). Throws InvalidArgument for bad options or a continuation list of another size than V,
  /// RangeError for a mask or special id outside [0, V).
  TokenMasker(Index vocab_size, Index mask_id, std::vector<Index> special_ids, MaskingOptions options = {},
              std::vector<bool> continuation = {})
      : vocab_size_(vocab_size), mask_id_(mask_id), options_(options), continuation_(std::move(continuation)) {
    constexpr std::string_view where = "elm::models::TokenMasker";
    options_.check(where);
    ELM_EXPECT(vocab_size > 0, InvalidArgument, where, ": vocab_size = ", vocab_size, ", expected V > 0");
    check_id(mask_id, vocab_size, where, "mask id");
    special_.assign(to_size(vocab_size), false);
    for (Index id : special_ids) {
      check_id(id, vocab_size, where, "special id");
      special_[to_size(id)] = true;
    }
    ELM_EXPECT(continuation_.empty() || to_index(continuation_.size()) == vocab_size, InvalidArgument, where,
               ": continuation has ", continuation_.size(), " flags, expected none or one per token (V = ",
               vocab_size, ")");
    ELM_EXPECT(!options_.whole_word || !continuation_.empty(), InvalidArgument, where,
               ": whole-word masking needs the continuation flags of the vocabulary (from_tokenizer gives them)");
  }

  /// The masker of a WordPiece vocabulary: its [MASK], its special tokens ([UNK], [CLS], [SEP], [PAD], [MASK]:
  /// transformers' all_special_ids, never selected) and its continuation pieces. Throws FormatError when the
  /// vocabulary has no mask token.
  static TokenMasker from_tokenizer(const text::WordPieceTokenizer& tokenizer, MaskingOptions options = {}) {
    const Index V = tokenizer.vocab_size();
    ELM_EXPECT(tokenizer.mask_id() >= 0, FormatError, "elm::models::TokenMasker::from_tokenizer: the vocabulary has "
               "no mask token '", tokenizer.config().mask_token, "', expected it among its ", V,
               " tokens (masked-LM training replaces tokens with it)");
    std::vector<Index> specials;
    std::vector<bool> continuation(to_size(V), false);
    const std::string& prefix = tokenizer.config().continuing_prefix;
    for (Index id = 0; id < V; ++id) {
      if (tokenizer.is_special_id(id)) specials.push_back(id);
      const std::string& t = tokenizer.vocabulary().tokens()[to_size(id)];
      continuation[to_size(id)] = !prefix.empty() && t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0;
    }
    return TokenMasker(V, tokenizer.mask_id(), std::move(specials), options, std::move(continuation));
  }

  const MaskingOptions& options() const noexcept { return options_; }
  Index mask_id() const noexcept { return mask_id_; }

  /// Whether a token may be selected (not a special token).
  bool eligible(Index id) const { return id >= 0 && id < vocab_size_ && !special_[to_size(id)]; }

  /// The batch with tokens selected and replaced, and its labels. Throws InvalidArgument for a batch of zero
  /// sequences, ShapeError for an attention_mask of another size than input_ids, RangeError for an id outside
  /// [0, V).
  MaskedBatch mask(const BertBatch& batch, Rng& rng) const {
    constexpr std::string_view where = "elm::models::TokenMasker::mask";
    ELM_EXPECT(batch.batch > 0, InvalidArgument, where, ": a batch of zero sequences (batch = ", batch.batch,
               "), expected B > 0");
    const std::size_t n = batch.input_ids.size();
    ELM_EXPECT(n > 0 && n % to_size(batch.batch) == 0, ShapeError, where, ": input_ids has ", n,
               " ids, expected a positive multiple of B = ", batch.batch);
    ELM_EXPECT(batch.attention_mask.empty() || batch.attention_mask.size() == n, ShapeError, where,
               ": attention_mask has ", batch.attention_mask.size(), " entries, expected none or one per id (", n,
               ")");
    for (Index id : batch.input_ids) check_id(id, vocab_size_, where, "input id");
    MaskedBatch out{batch, std::vector<Index>(n, -100)};
    const auto can_select = [&](std::size_t i) {
      return eligible(batch.input_ids[i]) && (batch.attention_mask.empty() || batch.attention_mask[i] != 0);
    };
    const std::size_t T = n / to_size(batch.batch);
    for (std::size_t b = 0; b < to_size(batch.batch); ++b) {
      std::size_t t = 0;
      while (t < T) {
        const std::size_t start = b * T + t;
        if (!can_select(start)) {
          ++t;
          continue;
        }
        // a word: this token and the continuations after it (a token alone without whole_word)
        std::size_t end = start + 1;
        if (options_.whole_word)
          while (end < (b + 1) * T && can_select(end) && continuation_[to_size(batch.input_ids[end])]) ++end;
        if (rng.uniform() < options_.probability)
          for (std::size_t i = start; i < end; ++i) replace(i, out, rng);
        t += end - start;
      }
    }
    return out;
  }

 private:
  void replace(std::size_t i, MaskedBatch& out, Rng& rng) const {
    out.labels[i] = out.inputs.input_ids[i];
    const double u = rng.uniform();
    if (u < options_.mask_fraction)
      out.inputs.input_ids[i] = mask_id_;
    else if (u < options_.mask_fraction + options_.random_fraction)
      out.inputs.input_ids[i] = static_cast<Index>(rng.below(static_cast<std::uint64_t>(vocab_size_)));
  }

  Index vocab_size_;
  Index mask_id_;
  MaskingOptions options_;
  std::vector<bool> special_, continuation_;
};

/// The most likely tokens at one [MASK] position.
struct MaskPrediction {
  Index sequence = 0;                 ///< b
  Index position = 0;                 ///< t, the [MASK]'s position in its sequence
  std::vector<Index> ids;             ///< the top-k token ids, most likely first (ties: the smaller id first)
  std::vector<double> probabilities;  ///< their probabilities: the softmax of the logits over the vocabulary
};

/// Fill-mask inference, as transformers' fill-mask pipeline: at each position of `batch` holding mask_id, the
/// top_k tokens of BertForMaskedLM's softmax over the vocabulary (top_k larger than V gives all V), in the order
/// of the positions (sequence by sequence). Only the masked positions go through the prediction head. Throws
/// InvalidArgument for top_k < 1 or a sequence without mask_id (the pipeline's "No mask_token"), RangeError for a
/// mask_id outside [0, V), and as BertForMaskedLM::forward for a bad batch.
template <typename Scalar>
std::vector<MaskPrediction> fill_mask(const BertForMaskedLM<Scalar>& model, const BertBatch& batch, Index mask_id,
                                      Index top_k = 5) {
  constexpr std::string_view where = "elm::models::fill_mask";
  ELM_EXPECT(top_k >= 1, InvalidArgument, where, ": top_k = ", top_k, ", expected >= 1");
  const Index V = model.config().vocab_size;
  check_id(mask_id, V, where, "mask id");
  ELM_EXPECT(batch.batch > 0, InvalidArgument, where, ": a batch of zero sequences (batch = ", batch.batch,
             "), expected B > 0");
  const Index T = batch.length();
  std::vector<Index> columns;
  for (Index b = 0; b < batch.batch; ++b) {
    const std::size_t before = columns.size();
    for (Index t = 0; t < T; ++t)
      if (batch.input_ids[to_size(b * T + t)] == mask_id) columns.push_back(b * T + t);
    ELM_EXPECT(columns.size() > before, InvalidArgument, where, ": sequence ", b, " has no mask token (id ",
               mask_id, "), expected at least one position to fill");
  }
  Matrix<Scalar> logits;  // (V, masks)
  model.forward_at(batch, columns, logits);
  const Index k = std::min(top_k, V);
  std::vector<MaskPrediction> out;
  std::vector<double> p(to_size(V));
  std::vector<Index> order(to_size(V));
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const auto col = logits.col(to_index(i));
    const double m = static_cast<double>(col.maxCoeff());
    double sum = 0.0;
    for (Index v = 0; v < V; ++v) sum += p[to_size(v)] = std::exp(static_cast<double>(col(v)) - m);
    std::iota(order.begin(), order.end(), Index(0));
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](Index x, Index y) {
      return p[to_size(x)] > p[to_size(y)] || (p[to_size(x)] == p[to_size(y)] && x < y);
    });
    MaskPrediction pred;
    pred.sequence = columns[i] / T;
    pred.position = columns[i] % T;
    for (Index j = 0; j < k; ++j) {
      pred.ids.push_back(order[to_size(j)]);
      pred.probabilities.push_back(p[to_size(order[to_size(j)])] / sum);
    }
    out.push_back(std::move(pred));
  }
  return out;
}

}  // namespace elm::models
