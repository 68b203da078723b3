// docs/snippets/word2vec_query.cpp
#include <fmt/format.h>

#include "elm/models/keyed_vectors.hpp"

int main() {
  // 16-d vectors gensim trained on Persuasion (tools/make_word2vec_fixtures.py).
  const elm::models::KeyedVectors kv(elm::io::read_word_vectors("tests/data/word2vec/kv_austen.txt", elm::io::WordVectorFormat::text));
  for (const auto& n : kv.most_similar({"anne"}, {}, 3)) fmt::print("near anne: {:<10} {:.2f}\n", n.word, n.similarity);
  // man : woman :: father : ?   (3CosAdd: the word closest to woman - man + father)
  const auto answer = kv.analogy("man", "woman", "father", 1);
  fmt::print("man : woman :: father : {}\n", answer[0].word);
  fmt::print("unknown words: find(\"zebra\") = {}\n", kv.find("zebra"));
}
