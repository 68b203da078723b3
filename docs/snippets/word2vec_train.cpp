// docs/snippets/word2vec_train.cpp
#include <fmt/format.h>

#include <sstream>
#include <string>

#include "elm/models/word2vec.hpp"

int main() {
  // A corpus where "cat" and "dog" share every context, and "car" and "bus" share theirs.
  elm::Rng data(3);
  std::string text;
  for (int s = 0; s < 1000; ++s) {
    const bool animal = data.below(2) == 0;
    const char* fill = animal ? (data.below(2) ? "cat" : "dog") : (data.below(2) ? "car" : "bus");
    text += animal ? fmt::format("the {} ate the food\n", fill) : fmt::format("the {} drove down the road\n", fill);
  }
  std::istringstream in(text);
  const auto corpus = elm::models::build_word2vec_corpus(in, /*min_count=*/1);

  elm::models::Word2VecConfig cfg;  // skip-gram, negative sampling: the C tool's defaults
  cfg.size = 16;
  cfg.window = 2;
  cfg.sample = 0;   // no subsampling on a corpus this small
  cfg.iter = 10;
  cfg.threads = 1;  // one thread: the same vectors on every run
  elm::Rng rng(1);
  const auto kv = elm::models::Word2Vec::train(corpus, cfg, rng).keyed_vectors();

  fmt::print("vocabulary: {} words, {} tokens\n", kv.size(), corpus.tokens.size());
  for (const char* w : {"cat", "dog", "car", "bus"})
    fmt::print("nearest to {}: {}\n", w, kv.most_similar({w}, {}, 1)[0].word);
  fmt::print("cos(cat, dog) > cos(cat, car): {}\n", kv.similarity("cat", "dog") > kv.similarity("cat", "car"));
}
