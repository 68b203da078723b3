// docs/snippets/word2vec_chinese.cpp
#include <fmt/format.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "elm/models/word2vec.hpp"

using elm::models::Tokenization;

// The three sentences of the curriculum's gensim example, raw and pre-segmented (words separated by spaces).
const char* raw = "我是一个学生。\n我喜欢编程。\n编程很有趣。\n";
const char* segmented = "我 是 一个 学生 。\n我 喜欢 编程 。\n编程 很 有趣 。\n";

void show(const char* what, const char* text, Tokenization mode) {
  std::istringstream in(text);
  const auto c = elm::models::build_word2vec_corpus(in, /*min_count=*/1, mode);
  const bool has = std::find(c.words.begin(), c.words.end(), "编程") != c.words.end();
  fmt::print("{:<26} {:>2} tokens: {}  | 编程 is a token: {}\n", what, c.words.size(), fmt::join(c.words, " "), has);
}

int main() {
  show("raw, whitespace mode:", raw, Tokenization::whitespace);
  show("raw, character mode:", raw, Tokenization::characters);
  show("segmented, whitespace:", segmented, Tokenization::whitespace);
}
