// docs/snippets/word2vec_embedding.cpp
#include <fmt/format.h>

#include <string>
#include <vector>

#include "elm/io/word_vectors.hpp"
#include "elm/nn/embedding.hpp"

int main() {
  // A word2vec file written by gensim (text format; WordVectorFormat::binary for .bin files).
  const elm::io::WordVectors wv =
      elm::io::read_word_vectors("tests/data/word2vec/gensim.txt", elm::io::WordVectorFormat::text);
  fmt::print("file: {} words of dimension {}\n", wv.size(), wv.dim());

  // The model's own vocabulary decides the row order; words the file lacks get small random vectors.
  const std::vector<std::string> vocabulary = {"<pad>", "king", "queen", "castle"};
  elm::Rng rng(0);
  elm::Index found = 0;
  auto embedding = elm::nn::Embedding<float>::from_pretrained(wv.vectors, wv.words, vocabulary, rng,
                                                               /*trainable=*/true, /*missing_stddev=*/0.1, &found);
  fmt::print("embedding: V = {}, C = {}, {} of {} words pretrained\n", embedding.vocab_size(), embedding.width(),
             found, vocabulary.size());
  // Column 1 (id of "king") is the file's vector of "king" (column 2 of the file).
  fmt::print("king's column equals the file's vector: {}\n", embedding.weight().value.col(1) == wv.vectors.col(2));
}
