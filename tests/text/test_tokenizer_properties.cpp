// SPDX-License-Identifier: MIT
// Properties over random inputs, thread safety, and bad inputs of both tokenizers.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/text/bpe_tokenizer.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"
#include "text_fixtures.hpp"

using Catch::Matchers::Contains;
using elm::Index;
using elm::text::BpeTokenizer;
using elm::text::WordPieceTokenizer;

namespace {

// A random code point drawn from a mix that stresses the classes: ASCII, Latin-1, combining marks, CJK, Hangul,
// emoji, astral letters, controls, white space and unassigned or private-use code points.
char32_t random_code_point(elm::Rng& rng) {
  static const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x00, 0x7F},     {0x80, 0xFF},       {0x300, 0x36F},     {0x370, 0x3FF},   {0x4E00, 0x9FFF},
      {0xAC00, 0xD7A3}, {0x1F300, 0x1FAFF}, {0x1D400, 0x1D7FF}, {0x2000, 0x206F}, {0xE000, 0xE0FF},
      {0x0378, 0x0379}, {0x10FF00, 0x10FFFF}, {0x20, 0x20},     {0x0A, 0x0D},     {0x3000, 0x303F}};
  const auto& r = ranges[static_cast<std::size_t>(rng.next_u64() % ranges.size())];
  return r.first + static_cast<char32_t>(rng.next_u64() % (r.second - r.first + 1));
}

std::string random_text(elm::Rng& rng, std::size_t max_len) {
  std::string s;
  const std::size_t n = static_cast<std::size_t>(rng.next_u64() % (max_len + 1));
  for (std::size_t i = 0; i < n; ++i) elm::text::append_utf8(random_code_point(rng), s);
  return s;
}

std::string minimal_bpe_vocab(const std::string& extra) {
  std::string vocab = "{";
  const auto table = elm::text::detail::byte_to_unicode_table();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    elm::text::append_utf8(table[static_cast<std::size_t>(b)], s);
    if (s == "\"" || s == "\\") s = "\\" + s;
    vocab += "\"" + s + "\": " + std::to_string(b) + (b < 255 || !extra.empty() ? ", " : "");
  }
  return vocab + extra + "}";
}

}  // namespace

TEST_CASE("every valid UTF-8 text round-trips through BPE, ids in range, offsets tile the text", "[text][bpe]") {
  const BpeTokenizer& t = elm_test::gpt2();
  const auto seed = GENERATE(1u, 2u, 3u);
  elm::Rng rng(seed);
  for (int trial = 0; trial < 150; ++trial) {
    const std::string text = random_text(rng, 40);
    const elm::text::Encoding e = t.encode_full(text);
    REQUIRE(t.decode(e.ids) == text);
    std::size_t at = 0;
    for (std::size_t k = 0; k < e.size(); ++k) {
      REQUIRE(e.ids[k] >= 0);
      REQUIRE(e.ids[k] < t.vocab_size());
      REQUIRE(e.offsets[k].begin == at);
      REQUIRE(e.offsets[k].end > at);
      at = e.offsets[k].end;
    }
    REQUIRE(at == text.size());
    REQUIRE(t.encode(text) == e.ids);  // second call: served from the cache
  }
}

TEST_CASE("random byte strings: valid ones round-trip, invalid ones name the offset", "[text][bpe]") {
  const BpeTokenizer& t = elm_test::gpt2();
  elm::Rng rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes(static_cast<std::size_t>(rng.next_u64() % 12), '\0');
    for (char& c : bytes) c = static_cast<char>(rng.next_u64() & 0xFF);
    const std::size_t bad = elm::text::find_invalid_utf8(bytes);
    if (bad == std::string::npos) {
      REQUIRE(t.decode(t.encode(bytes)) == bytes);
    } else {
      REQUIRE_THROWS_WITH(t.encode(bytes), Contains("byte offset " + std::to_string(bad)));
    }
  }
}

TEST_CASE("WordPiece emits only vocabulary tokens with offsets inside the text", "[text][wordpiece]") {
  const WordPieceTokenizer& t = elm_test::bert_uncased();
  const auto seed = GENERATE(4u, 5u);
  elm::Rng rng(seed);
  for (int trial = 0; trial < 150; ++trial) {
    const std::string text = random_text(rng, 40);
    const elm::text::Encoding e = t.encode(text);
    std::size_t last_begin = 0;
    for (std::size_t k = 0; k < e.size(); ++k) {
      REQUIRE(e.ids[k] >= 0);
      REQUIRE(e.ids[k] < t.vocab_size());
      REQUIRE(e.tokens[k] == t.vocabulary().token(e.ids[k]));
      REQUIRE(e.offsets[k].begin <= e.offsets[k].end);
      REQUIRE(e.offsets[k].end <= text.size());
      if (e.special_tokens_mask[k] == 0) {
        REQUIRE(e.offsets[k].begin >= last_begin);
        last_begin = e.offsets[k].begin;
      }
    }
  }
}

TEST_CASE("both tokenizers give the same results from several threads", "[text][threads]") {
  const BpeTokenizer& bpe = elm_test::gpt2();
  const WordPieceTokenizer& wp = elm_test::bert_uncased();
  elm::Rng rng(21);
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) texts.push_back(random_text(rng, 30) + " common words again and again");
  // Serial reference from a fresh tokenizer (empty cache); the threads share the test-wide one.
  const BpeTokenizer fresh = BpeTokenizer::from_files(elm_test::source_path("examples/data/gpt2/vocab.json"),
                                                      elm_test::source_path("examples/data/gpt2/merges.txt"));
  std::vector<std::vector<Index>> bpe_serial, wp_serial;
  for (const auto& s : texts) {
    bpe_serial.push_back(fresh.encode(s));
    wp_serial.push_back(wp.encode(s).ids);
  }
  std::vector<std::vector<Index>> bpe_out(texts.size()), wp_out(texts.size());
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&, w] {
      for (std::size_t i = static_cast<std::size_t>(w); i < texts.size(); i += 4) {
        bpe_out[i] = bpe.encode(texts[i]);
        wp_out[i] = wp.encode(texts[i]).ids;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(bpe_out == bpe_serial);
  CHECK(wp_out == wp_serial);
  CHECK(bpe.encode_batch(texts) == bpe_serial);
  const auto full = bpe.encode_full_batch(texts);
  REQUIRE(full.size() == texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) CHECK(full[i].ids == bpe_serial[i]);
}

TEST_CASE("BPE rejects malformed vocab.json and merges.txt", "[text][bpe][errors]") {
  const std::string ok = minimal_bpe_vocab("\"ab\": 256");
  REQUIRE_NOTHROW(BpeTokenizer::from_strings(ok, "#version: 0.2\na b\n"));
  // The text below is 8 bytes long: the parser reaches its end (offset 8) looking for the next key.
  REQUIRE_THROWS_WITH(BpeTokenizer::from_strings("{\"a\": 0,", ""), Contains("malformed JSON at byte offset 8"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_strings("{\"a\": 1.5}", ""), Contains("not a fraction"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_strings(minimal_bpe_vocab("\"ab\": 255"), ""), Contains("duplicate id 255"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_strings(minimal_bpe_vocab("\"ab\": 300"), ""),
                      Contains("has id 300, expected ids 0..256"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_strings("{\"a\": 0, \"a\": 1}", ""), Contains("duplicate token 'a'"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_strings("{\"a\": 0}", ""), Contains("expected all 256 byte-level symbols"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_strings(ok, "a c\n"), Contains("line 1: merged token 'ac' is not in the vocabulary"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_strings(ok, "#version: 0.2\na b\nab zz\n"),
                      Contains("line 3: token 'zz' is not in the vocabulary"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_strings(ok, "a b c\n"), Contains("expected two tokens separated by one space"));
  REQUIRE_THROWS_AS(BpeTokenizer::from_files("/nonexistent/vocab.json", "/nonexistent/merges.txt"), elm::IoError);
}

TEST_CASE("BPE rejects invalid UTF-8 and out-of-range ids", "[text][bpe][errors]") {
  const BpeTokenizer& t = elm_test::gpt2();
  REQUIRE_THROWS_MATCHES(t.encode("ab\xC3(x"), elm::FormatError,
                         Catch::Matchers::Message("elm::text::BpeTokenizer::encode: invalid UTF-8 at byte offset 2 "
                                                  "(byte 0xc3), expected a valid UTF-8 sequence"));
  REQUIRE_THROWS_AS(t.encode("\xED\xA0\x80"), elm::FormatError);  // a surrogate
  REQUIRE_THROWS_WITH(t.decode({15496, 50257}), Contains("id = 50257 is out of range") && Contains("< 50257"));
  REQUIRE_THROWS_AS(t.decode({-1}), elm::RangeError);
  REQUIRE_THROWS_AS(t.id_to_token(60000), elm::RangeError);
}

TEST_CASE("WordPiece rejects malformed vocab.txt, invalid UTF-8, bad ids and lengths", "[text][wordpiece][errors]") {
  using elm::text::Vocabulary;
  REQUIRE_THROWS_WITH(WordPieceTokenizer(Vocabulary::from_text("[PAD]\n[CLS]\n[SEP]\nhello\n")),
                      Contains("no unknown token '[UNK]'"));
  REQUIRE_THROWS_WITH(Vocabulary::from_text("[UNK]\nhello\nhello\n"), Contains("line 3: duplicate token 'hello' (first id 1)"));
  REQUIRE_THROWS_WITH(Vocabulary::from_text("[UNK]\n\nhello\n"), Contains("line 2 is empty"));
  REQUIRE_THROWS_WITH(Vocabulary::from_text("[UNK]\nab\xFF\n"), Contains("invalid UTF-8 at byte offset 2"));
  REQUIRE_THROWS_AS(WordPieceTokenizer::from_file("/nonexistent/vocab.txt"), elm::IoError);
  const WordPieceTokenizer& t = elm_test::bert_uncased();
  REQUIRE_THROWS_WITH(t.encode("caf\xC3"), Contains("invalid UTF-8 at byte offset 3"));
  REQUIRE_THROWS_WITH(t.encode_pair("ok", "\x80"), Contains("byte offset 0"));
  REQUIRE_THROWS_AS(t.decode({30522}), elm::RangeError);
  elm::text::EncodeOptions o;
  o.max_length = 2;
  REQUIRE_NOTHROW(t.encode("hello", o));
  REQUIRE_THROWS_WITH(t.encode_pair("a", "b", o), Contains("expected max_length >= 3"));
}

TEST_CASE("WordPiece: [UNK] for words over 100 characters, batches padded to the longest", "[text][wordpiece]") {
  const WordPieceTokenizer& t = elm_test::bert_uncased();
  elm::text::EncodeOptions plain;
  plain.add_special_tokens = false;
  // 100 'a's split into vocabulary pieces; 101 exceed max_input_chars_per_word and give one [UNK] over the word.
  CHECK(t.encode(std::string(100, 'a'), plain).ids != std::vector<Index>{t.unk_id()});
  const auto e = t.encode(std::string(101, 'a') + " b", plain);
  CHECK(e.ids.front() == t.unk_id());
  CHECK(e.offsets.front() == elm::text::TokenOffset{0, 101});
  elm::text::EncodeOptions longest;
  longest.padding = elm::text::EncodeOptions::Padding::to_longest;
  const auto batch = t.encode_batch({"one", "two three four"}, longest);
  REQUIRE(batch[0].size() == batch[1].size());
  CHECK(batch[0].attention_mask == std::vector<Index>{1, 1, 1, 0, 0});
  CHECK(batch[0].ids.back() == t.pad_id());
}
