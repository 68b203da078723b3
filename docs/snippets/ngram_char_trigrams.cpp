// docs/snippets/ngram_char_trigrams.cpp
#include <cstdio>
#include <string>

#include "elm/classic/ngram_counts.hpp"
#include "elm/text/utf8.hpp"

int main() {
  const std::string text = "这是一个测试文本";
  const auto trigrams = elm::classic::count_char_ngrams(text, 3);  // code-point windows, not bytes
  const std::u32string cps = elm::text::decode_utf8(text);
  std::printf("%zu code points, %zu distinct trigrams\n", cps.size(), trigrams.size());
  for (std::size_t i = 0; i + 3 <= cps.size(); ++i) {
    const std::string gram = elm::text::encode_utf8(cps.substr(i, 3));
    std::printf("%s %lld\n", gram.c_str(), static_cast<long long>(trigrams.at(gram)));
  }
}
