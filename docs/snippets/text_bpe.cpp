// docs/snippets/text_bpe.cpp
#include <fmt/format.h>

#include "elm/text/bpe_tokenizer.hpp"

int main() {
  const auto gpt2 = elm::text::BpeTokenizer::from_files("examples/data/gpt2/vocab.json", "examples/data/gpt2/merges.txt");
  const std::string text = "It's 2024: café, 自然语言处理!<|endoftext|>";
  const elm::text::Encoding e = gpt2.encode_full(text);
  for (std::size_t k = 0; k < e.size(); ++k)
    fmt::print("{:>6} {:<10} bytes [{}, {})\n", e.ids[k], e.tokens[k], e.offsets[k].begin, e.offsets[k].end);
  fmt::print("round trip: {}\n", gpt2.decode(e.ids) == text);
}
