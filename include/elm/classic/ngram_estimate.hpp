// SPDX-License-Identifier: MIT
// One-call estimation of an n-gram model from lines of text, with any of the smoothing methods.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_model.hpp"
#include "elm/classic/ngram_tables.hpp"
#include "elm/classic/smoothing.hpp"
#include "elm/core/error.hpp"

namespace elm::classic {

enum class Smoothing { kneser_ney, mle, add_k, stupid_backoff };

/// Options of estimate_ngram_tables / estimate_ngram_model.
struct NgramEstimateOptions {
  int order = 3;
  Smoothing smoothing = Smoothing::kneser_ney;  // interpolated modified Kneser-Ney, as lmplz
  bool chars = false;                           // sentences of code points instead of words
  KneserNeyOptions kneser_ney{};
  double add_k = 1.0;
  double stupid_backoff_alpha = 0.4;
};

/// Parses "kneser-ney", "mle", "add-k", "stupid-backoff"; throws InvalidArgument otherwise.
inline Smoothing parse_smoothing(std::string_view name) {
  if (name == "kneser-ney" || name == "kn") return Smoothing::kneser_ney;
  if (name == "mle") return Smoothing::mle;
  if (name == "add-k" || name == "laplace") return Smoothing::add_k;
  if (name == "stupid-backoff") return Smoothing::stupid_backoff;
  ELM_EXPECT(false, InvalidArgument, "elm::classic::parse_smoothing: unknown smoothing '", name,
             "', expected kneser-ney, mle, add-k or stupid-backoff");
  return Smoothing::kneser_ney;
}

/// Tables of the chosen smoothing from counts.
inline NgramTables estimate_ngram_tables(const NgramCounts& counts, const NgramEstimateOptions& options = {},
                                         const NgramProgress& progress = {}) {
  switch (options.smoothing) {
    case Smoothing::mle:
      return estimate_mle(counts);
    case Smoothing::add_k:
      return estimate_add_k(counts, options.add_k);
    case Smoothing::stupid_backoff:
      return estimate_stupid_backoff(counts, options.stupid_backoff_alpha);
    case Smoothing::kneser_ney:
    default:
      return estimate_kneser_ney(counts, options.kneser_ney, nullptr, progress);
  }
}

/// Counts lines (one sentence each: whitespace-separated words, or code points with options.chars) and
/// estimates tables. progress (optional) sees the stages "counting", "adjusting counts", ...
inline NgramTables estimate_ngram_tables(const std::vector<std::string>& lines,
                                         const NgramEstimateOptions& options = {},
                                         const NgramProgress& progress = {}) {
  NgramCounts counts(options.order);
  counts.add_lines(lines, options.chars, progress);
  return estimate_ngram_tables(counts, options, progress);
}

/// The query model of estimate_ngram_tables(lines, options, progress).
inline NgramModel estimate_ngram_model(const std::vector<std::string>& lines, const NgramEstimateOptions& options = {},
                                       const NgramProgress& progress = {}) {
  return NgramModel(estimate_ngram_tables(lines, options, progress));
}

}  // namespace elm::classic
