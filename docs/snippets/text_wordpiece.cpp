// docs/snippets/text_wordpiece.cpp
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "elm/text/wordpiece_tokenizer.hpp"

int main() {
  const auto bert = elm::text::WordPieceTokenizer::from_file("examples/data/bert-base-uncased/vocab.txt");
  fmt::print("{}\n", bert.normalize("Héllo, 世界!"));

  const std::string text = "我的大学在日本。Transformers!";
  const elm::text::Encoding e = bert.encode(text);
  for (std::size_t k = 0; k < e.size(); ++k)
    fmt::print("{:>5} {:<12} bytes [{}, {})\n", e.ids[k], e.tokens[k], e.offsets[k].begin, e.offsets[k].end);

  elm::text::EncodeOptions options;
  options.max_length = 12;
  options.padding = elm::text::EncodeOptions::Padding::to_max_length;
  const elm::text::Encoding pair = bert.encode_pair("The quick brown fox jumps.", "Over the lazy dog!", options);
  fmt::print("ids       {}\n", pair.ids);
  fmt::print("type ids  {}\n", pair.type_ids);
  fmt::print("attention {}\n", pair.attention_mask);
}
