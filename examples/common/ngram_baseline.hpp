// SPDX-License-Identifier: MIT
// The n-gram baselines that the language-model programs (elm-lstm-lm, the demo) compare a neural model with.
#pragma once

#include <string>

#include "austen.hpp"
#include "elm/classic/ngram_estimate.hpp"
#include "elm/classic/ngram_model.hpp"

namespace elm::examples {

/// One baseline: its label, smoothing, order and add-k constant.
struct NgramBaseline {
  std::string name;
  classic::Smoothing smoothing;
  int order;
  double k;
};

/// The baseline estimated on the training sentences of a split, over words or characters.
inline classic::NgramModel estimate_baseline(const NgramBaseline& b, const AustenSplit& split, bool chars) {
  classic::NgramEstimateOptions options;
  options.order = b.order;
  options.chars = chars;
  options.smoothing = b.smoothing;
  options.add_k = b.k;
  options.kneser_ney.discount_fallback = true;  // character unigrams have no count-1 types
  return classic::estimate_ngram_model(split.train, options);
}

}  // namespace elm::examples
