// SPDX-License-Identifier: MIT
// Umbrella header of classic: n-gram counting, smoothing and models, hidden Markov models, the tagger, naive
// Bayes and the Brown genre task.
// For users of the classic models alone: it compiles neither the Unicode tables nor the neural layers.
#pragma once

#include "elm/core.hpp"

#include "elm/classic/baum_welch.hpp"
#include "elm/classic/bounded_ngram_counts.hpp"
#include "elm/classic/brown_genres.hpp"
#include "elm/classic/forward_backward.hpp"
#include "elm/classic/hmm.hpp"
#include "elm/classic/hmm_estimation.hpp"
#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/naive_bayes.hpp"
#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_estimate.hpp"
#include "elm/classic/ngram_model.hpp"
#include "elm/classic/ngram_tables.hpp"
#include "elm/classic/ngram_vocabulary.hpp"
#include "elm/classic/pos_tagger.hpp"
#include "elm/classic/smoothing.hpp"
#include "elm/classic/viterbi.hpp"
