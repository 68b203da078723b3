// SPDX-License-Identifier: MIT
// Umbrella header of nn: parameters, layers with backward passes, losses, attention, blocks, optimizers.
// For users of the neural layers alone: it compiles no text, classic, io or models header.
#pragma once

#include "elm/core.hpp"

#include "elm/nn/activations.hpp"
#include "elm/nn/attention.hpp"
#include "elm/nn/attention_pooling.hpp"
#include "elm/nn/blocked_attention.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/gru.hpp"
#include "elm/nn/kv_cache.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/lstm.hpp"
#include "elm/nn/multi_head_attention.hpp"
#include "elm/nn/optim/adam.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/clip.hpp"
#include "elm/nn/optim/schedule.hpp"
#include "elm/nn/optim/sgd.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/positional_encoding.hpp"
#include "elm/nn/product_kernel.hpp"
#include "elm/nn/rnn.hpp"
#include "elm/nn/rotary_embedding.hpp"
#include "elm/nn/sequential.hpp"
#include "elm/nn/softmax.hpp"
#include "elm/nn/transformer_block.hpp"
