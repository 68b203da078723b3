// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "elm/text/wordpiece_tokenizer.hpp"
#include "text_fixtures.hpp"

using elm::Index;
using elm::text::EncodeOptions;
using elm::text::TokenOffset;
using elm::text::WordPieceTokenizer;

namespace {

std::vector<Index> json_ids(const nlohmann::json& j) {
  std::vector<Index> out;
  for (const auto& v : j) out.push_back(v.get<Index>());
  return out;
}

std::vector<TokenOffset> to_offsets(const nlohmann::json& flat) {
  std::vector<TokenOffset> out;
  for (std::size_t k = 0; k + 1 < flat.size(); k += 2) out.push_back({flat[k].get<std::size_t>(), flat[k + 1].get<std::size_t>()});
  return out;
}

// Code-point offsets of an encoding of (a, b): b's tokens (type 1) index into b.
std::vector<TokenOffset> code_point_offsets(const elm::text::Encoding& e, const std::string& a, const std::string& b) {
  std::vector<TokenOffset> first, second;
  for (std::size_t k = 0; k < e.size(); ++k) (e.type_ids[k] == 0 ? first : second).push_back(e.offsets[k]);
  first = elm::text::to_code_point_offsets(a, first);
  second = elm::text::to_code_point_offsets(b, second);
  std::vector<TokenOffset> out;
  std::size_t i = 0, j = 0;
  for (std::size_t k = 0; k < e.size(); ++k) out.push_back(e.type_ids[k] == 0 ? first[i++] : second[j++]);
  return out;
}

void check_parity(const WordPieceTokenizer& t, const nlohmann::json& texts, const nlohmann::json& cases) {
  std::size_t id_mismatches = 0, offset_mismatches = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i];
    const elm::text::Encoding e = t.encode(text);
    const bool ids_ok = e.ids == json_ids(cases[i]["ids"]);
    const bool offsets_ok = elm::text::to_code_point_offsets(text, e.offsets) == to_offsets(cases[i]["offsets"]);
    if (!ids_ok) ++id_mismatches;
    if (!offsets_ok) ++offset_mismatches;
    if (!ids_ok || !offsets_ok) UNSCOPED_INFO("mismatch on " << nlohmann::json(text).dump());
  }
  INFO(id_mismatches << " id and " << offset_mismatches << " offset mismatches in " << texts.size() << " texts");
  CHECK(id_mismatches == 0);
  CHECK(offset_mismatches == 0);
}

}  // namespace

TEST_CASE("BERT normaliser on hand-worked strings", "[text][wordpiece]") {
  const WordPieceTokenizer& t = elm_test::bert_uncased();
  // clean text drops NUL, U+FFFD, controls (U+0007, U+200B is Cf) and maps tab/newline to spaces; CJK ideographs
  // get spaces around them; é decomposes to e + U+0301 and the mark is dropped; then lower-casing.
  CHECK(t.normalize(std::string("A\x07" "b\x00" "c\tD", 7)) == "abc d");
  CHECK(t.normalize("中文x") == " 中  文 x");
  CHECK(t.normalize("Caf\xC3\xA9") == "cafe");
  CHECK(t.normalize("zero\xE2\x80\x8Bwidth\xEF\xBF\xBD") == "zerowidth");
  CHECK(elm_test::bert_cased().normalize("Caf\xC3\xA9") == "Caf\xC3\xA9");
}

TEST_CASE("WordPiece splits greedily, longest prefix first", "[text][wordpiece]") {
  // Tiny vocabulary worked by hand: "unaffable" -> un, ##aff, ##able; "unx" has no piece for "x" -> [UNK].
  elm::text::Vocabulary v({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "##a", ",", "u"});
  const WordPieceTokenizer t(std::move(v));
  EncodeOptions plain;
  plain.add_special_tokens = false;
  const auto e = t.encode("Unaffable, unx", plain);
  CHECK(e.ids == std::vector<Index>{5, 6, 7, 9, 1});
  CHECK(e.tokens == std::vector<std::string>{"un", "##aff", "##able", ",", "[UNK]"});
  CHECK(e.offsets == std::vector<TokenOffset>{{0, 2}, {2, 5}, {5, 9}, {9, 10}, {11, 14}});
  // Special tokens ([UNK] among them) are left out unless asked for, as in Hugging Face's decode.
  CHECK(t.decode(e.ids) == "unaffable ,");
  CHECK(t.decode(e.ids, false) == "unaffable , [UNK]");
}

TEST_CASE("WordPiece equals Hugging Face (uncased) on ids and offsets", "[text][wordpiece][parity]") {
  const auto fixture = elm_test::load_json(elm_test::data_path("bert_hf_cases.json"));
  check_parity(elm_test::bert_uncased(), fixture["texts"], fixture["uncased"]);
}

TEST_CASE("WordPiece equals Hugging Face (cased normaliser) on ids and offsets", "[text][wordpiece][parity]") {
  const auto fixture = elm_test::load_json(elm_test::data_path("bert_hf_cases.json"));
  check_parity(elm_test::bert_cased(), fixture["texts"], fixture["cased"]);
}

TEST_CASE("WordPiece equals Hugging Face without clean-up and CJK spaces, accents stripped", "[text][wordpiece][parity]") {
  const auto fixture = elm_test::load_json(elm_test::data_path("bert_hf_cases.json"));
  elm::text::WordPieceConfig c;
  c.lowercase = false;
  c.clean_text = false;
  c.handle_chinese_chars = false;
  c.strip_accents = true;
  const WordPieceTokenizer t(elm_test::bert_uncased().vocabulary(), c);
  check_parity(t, fixture["texts"], fixture["raw"]);
}

TEST_CASE("pairs, truncation and padding equal Hugging Face", "[text][wordpiece][parity]") {
  const auto fixture = elm_test::load_json(elm_test::data_path("bert_hf_cases.json"));
  const WordPieceTokenizer& t = elm_test::bert_uncased();
  for (const auto& c : fixture["truncated"]) {
    const std::string a = c["a"];
    const bool pair = !c["b"].is_null();
    const std::string b = pair ? c["b"].get<std::string>() : std::string();
    EncodeOptions o;
    o.max_length = c["max_length"];
    o.padding = EncodeOptions::Padding::to_max_length;
    const elm::text::Encoding e = pair ? t.encode_pair(a, b, o) : t.encode(a, o);
    INFO(nlohmann::json(a).dump() << " / " << nlohmann::json(b).dump() << " max_length " << o.max_length);
    CHECK(e.ids == json_ids(c["ids"]));
    CHECK(e.type_ids == json_ids(c["type_ids"]));
    CHECK(e.attention_mask == json_ids(c["attention_mask"]));
    CHECK(e.special_tokens_mask == json_ids(c["special_tokens_mask"]));
    CHECK(code_point_offsets(e, a, b) == to_offsets(c["offsets"]));
  }
}
