// SPDX-License-Identifier: MIT
// Umbrella header of models: word2vec with its keyed vectors, the LSTM language model, GPT-2, its generation and
// held-out perplexity, BERT with its masked-LM masking, fill-mask and pretraining; a small image CNN, an
// autoencoder, a variational autoencoder, the text CNN, the GAN steps and mode coverage; sequence to sequence:
// the encoder-decoder Transformer, the LSTM with attention, greedy decoding and beam search.
#pragma once

#include "elm/core.hpp"

#include "elm/models/autoencoder.hpp"
#include "elm/models/beam_search.hpp"
#include "elm/models/bert.hpp"
#include "elm/models/conv_classifier.hpp"
#include "elm/models/gan.hpp"
#include "elm/models/generation.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/models/keyed_vectors.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/models/lstm_seq2seq.hpp"
#include "elm/models/masked_lm.hpp"
#include "elm/models/masked_lm_training.hpp"
#include "elm/models/mode_coverage.hpp"
#include "elm/models/perplexity.hpp"
#include "elm/models/text_cnn.hpp"
#include "elm/models/transformer_seq2seq.hpp"
#include "elm/models/vae.hpp"
#include "elm/models/word2vec.hpp"
