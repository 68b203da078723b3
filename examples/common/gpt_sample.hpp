// SPDX-License-Identifier: MIT
// Sampling text from a GPT-2 for as long as asked (past its context), for the demo and elm-gpt train's samples.
#pragma once

#include <vector>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/models/generation.hpp"
#include "elm/models/gpt2.hpp"

namespace elm::examples {

/// Draws up to max_tokens tokens after `prompt` from softmax(logits / temperature) restricted to the top_k most
/// likely (0: all; models::LogitsProcessor), stopping after stop_id (-1: never). Unlike models::generate, which
/// stops at the context, it goes on past it: each further token is predicted from the last n_positions tokens
/// (the windows the model was trained on), as nanoGPT's sampler does.
template <typename Scalar>
std::vector<Index> gpt2_sample(const models::Gpt2<Scalar>& model, std::vector<Index> prompt, Index max_tokens,
                               Index stop_id, double temperature, Index top_k, Rng& rng) {
  const Index P = model.config().n_positions;
  if (to_index(prompt.size()) > P) prompt.erase(prompt.begin(), prompt.end() - P);
  models::GenerationConfig config;
  config.do_sample = true;
  config.temperature = temperature;
  config.top_k = top_k;
  models::LogitsProcessor<Scalar> processor(config, model.config().vocab_size);
  auto kv = model.make_kv_caches(1, P);
  Matrix<Scalar> logits;
  model.forward_incremental(prompt, {}, {}, kv, logits, models::LogitPositions::last);
  std::vector<Index> window = prompt, out;
  Vector<Scalar> scores;
  for (Index n = 0; n < max_tokens; ++n) {
    scores = logits.col(logits.cols() - 1);
    processor.process(scores, window);
    const Index next = processor.next_token(scores, rng);
    out.push_back(next);
    if (next == stop_id) break;
    window.push_back(next);
    if (to_index(window.size()) <= P) {
      model.forward_incremental({next}, kv, logits);
    } else {  // the context is full: the last P tokens again, from position 0
      window.erase(window.begin());
      for (auto& cache : kv) cache.reset();
      model.forward_incremental(window, {}, {}, kv, logits, models::LogitPositions::last);
    }
  }
  return out;
}

}  // namespace elm::examples
