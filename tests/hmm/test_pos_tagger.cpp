// SPDX-License-Identifier: MIT
// The Brown POS tagger: tag sets, parsing, a slice of the corpus against the most-frequent-tag baseline, I/O.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "elm/classic/pos_tagger.hpp"
#include "elm/io/pos_tagger.hpp"

using namespace elm::classic;
using Catch::Matchers::Contains;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The first `files` Brown files, split as documented in examples/data/brown/SOURCE.md.
void load_slice(std::size_t files, TagSet tagset, std::vector<TaggedSentence>& train, std::vector<TaggedSentence>& test) {
  const std::string dir = std::string(ELM_SOURCE_DIR) + "/examples/data/brown";
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (std::regex_match(e.path().filename().string(), std::regex("c[a-r][0-9][0-9]")))
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  REQUIRE(names.size() == 500);
  for (std::size_t i = 0; i < files; ++i) {
    auto sentences = parse_brown(slurp(dir + "/" + names[i]), tagset, names[i]);
    auto& target = brown_held_out(static_cast<elm::Index>(i)) ? test : train;
    target.insert(target.end(), sentences.begin(), sentences.end());
  }
}

}  // namespace

TEST_CASE("base tags drop -tl, -hl and *", "[hmm][tagger]") {
  CHECK(base_tag("nn-tl") == "nn");
  CHECK(base_tag("np$-tl-hl") == "np$");
  CHECK(base_tag("doz*") == "doz");
  CHECK(base_tag("md*-hl") == "md");
  CHECK(base_tag("ppss+bem") == "ppss+bem");
  CHECK(base_tag("fw-nn-tl") == "fw-nn");
  CHECK(base_tag("*") == "*");
  CHECK(base_tag("--") == "--");
  CHECK(base_tag("nn-nc") == "nn-nc");
}

TEST_CASE("parse_brown reads word/tag lines and rejects malformed tokens", "[hmm][tagger]") {
  const auto s = parse_brown("\n\n\tThe/at Fulton/np-tl 1/2/cd ./.\n\n\tIt/pps is/bez-hl\n", TagSet::base);
  REQUIRE(s.size() == 2);
  CHECK(s[0].words == std::vector<std::string>{"The", "Fulton", "1/2", "."});
  CHECK(s[0].tags == std::vector<std::string>{"at", "np", "cd", "."});
  CHECK(s[1].tags == std::vector<std::string>{"pps", "bez"});
  CHECK(parse_brown("a/nn-tl", TagSet::full)[0].tags[0] == "nn-tl");
  REQUIRE_THROWS_MATCHES(parse_brown("ok/nn\nbad token/x\n", TagSet::full, "ca99"), elm::FormatError,
                         Catch::Matchers::Message("elm::classic::parse_brown: ca99 line 2: token \"bad\", expected "
                                                  "word/tag"));
  REQUIRE_THROWS_AS(parse_brown("x/", TagSet::full), elm::FormatError);
  REQUIRE_THROWS_AS(parse_brown("/nn", TagSet::full), elm::FormatError);
}

TEST_CASE("a toy tagger follows its counts", "[hmm][tagger]") {
  // "can" is a modal after a pronoun and a noun after a determiner; context decides.
  std::vector<TaggedSentence> train;
  for (int i = 0; i < 5; ++i) {
    train.push_back({{"I", "can", "swim"}, {"ppss", "md", "vb"}});
    train.push_back({{"the", "can", "rusts"}, {"at", "nn", "vbz"}});
    train.push_back({{"they", "can", "run"}, {"ppss", "md", "vb"}});
  }
  train.push_back({{"the", "dog", "runs"}, {"at", "nn", "vbz"}});
  for (int order : {2, 3}) {
    PosTaggerOptions options;
    options.order = order;
    const auto tagger = PosTagger::train(train, options);
    CHECK(tagger.tag({"they", "can", "swim"}) == std::vector<std::string>{"ppss", "md", "vb"});
    CHECK(tagger.tag({"the", "can", "runs"}) == std::vector<std::string>{"at", "nn", "vbz"});
    CHECK(tagger.tag({}).empty());
    // An unknown word after "the" that ends like "dog"'s sentence: a noun.
    CHECK(tagger.tag({"the", "cat", "runs"})[1] == "nn");
    CHECK_FALSE(tagger.knows("cat"));
  }
}

TEST_CASE("Brown slice: the HMM tagger beats the most-frequent-tag baseline", "[hmm][tagger]") {
  // 60 files: 54 to train (about 125,000 tokens), 6 held out (ca10 ca20 ca30 ca40 cb06 cb16, ~14,000 tokens).
  // The full-corpus numbers (96.4% base tags) are in docs/classic/hmm.md; a smaller training set sees more
  // unknown words, so the bounds here are lower.
  std::vector<TaggedSentence> train, test;
  load_slice(60, TagSet::base, train, test);
  REQUIRE(test.size() > 300);
  const auto tagger = PosTagger::train(train);
  const auto acc = evaluate_tagger(tagger, test);
  const auto base = evaluate_tagger(MostFrequentTagTagger::train(train), test);
  WARN("slice, base tags: HMM " << 100 * acc.overall() << "% (unknown " << 100 * acc.on_unknown() << "% of "
                                << acc.unknown << "), baseline " << 100 * base.overall() << "% (unknown "
                                << 100 * base.on_unknown() << "%), " << acc.tokens << " tokens");
  CHECK(acc.overall() >= 0.93);
  CHECK(acc.overall() >= base.overall() + 0.04);
  CHECK(acc.on_unknown() >= base.on_unknown() + 0.3);

  // Save then load gives the same model: the same text and the same tags.
  std::ostringstream saved;
  elm::io::save_pos_tagger(tagger, saved);
  std::istringstream in(saved.str());
  const auto loaded = elm::io::load_pos_tagger(in);
  std::ostringstream again;
  elm::io::save_pos_tagger(loaded, again);
  CHECK(again.str() == saved.str());
  const auto acc2 = evaluate_tagger(loaded, test);
  CHECK(acc2.correct == acc.correct);
}

TEST_CASE("tagger options and files are checked", "[hmm][tagger][errors]") {
  std::vector<TaggedSentence> train{{{"a", "b"}, {"x", "y"}}};
  PosTaggerOptions options;
  options.order = 4;
  REQUIRE_THROWS_WITH(PosTagger::train(train, options), Contains("order = 4, expected 2 or 3"));
  options = {};
  options.transition_k = 0;
  REQUIRE_THROWS_AS(PosTagger::train(train, options), elm::InvalidArgument);
  REQUIRE_THROWS_WITH(PosTagger::train({}), Contains("no sentences"));
  REQUIRE_THROWS_AS(PosTagger::train({{{"a"}, {"x", "y"}}}), elm::ShapeError);

  std::ostringstream saved;
  elm::io::save_pos_tagger(PosTagger::train(train), saved);
  const std::string text = saved.str();
  auto load = [](const std::string& t) {
    std::istringstream in(t);
    return elm::io::load_pos_tagger(in, "model.txt");
  };
  REQUIRE_NOTHROW(load(text));
  REQUIRE_THROWS_MATCHES(load("elm-pos-tagger 2\n"), elm::FormatError,
                         Catch::Matchers::Message("elm::io::load_pos_tagger: model.txt line 1: expected the "
                                                  "header \"elm-pos-tagger 1\", got \"elm-pos-tagger 2\""));
  REQUIRE_THROWS_WITH(load(text.substr(0, text.find("trigrams"))), Contains("unexpected end of file"));
  std::string bad_id = text;
  bad_id.replace(bad_id.find("trigrams"), std::string::npos, "trigrams 1\n0 0 99 1\nend\n");
  REQUIRE_THROWS_WITH(load(bad_id), Contains("with ids below 4"));
  std::string bad_order = text;
  bad_order.replace(bad_order.find("order 3"), 7, "order 5");
  REQUIRE_THROWS_WITH(load(bad_order), Contains("order = 5"));
  // Counts are claims checked before they are converted or summed: 1e300 tags (no integer holds it), a tag count
  // beyond 2^20 (the trigram keys would overflow 64 bits), counts that a few lines could sum past 2^63.
  std::string huge_tags = text;
  const std::size_t tags_at = huge_tags.find("\ntags ") + 1;
  huge_tags.replace(tags_at, huge_tags.find('\n', tags_at) - tags_at, "tags 1e300");
  REQUIRE_THROWS_WITH(load(huge_tags), Contains("model.txt line 8: \"tags\" is 1.0000000000000001e+300, expected a "
                                                "whole number from 0 to 1048576"));
  std::string many_tags = huge_tags;
  many_tags.replace(many_tags.find("tags 1e300"), 10, "tags 2000000");
  REQUIRE_THROWS_WITH(load(many_tags), Contains("\"tags\" is 2000000, expected a whole number from 0 to 1048576"));
  std::string nan_order = text;
  nan_order.replace(nan_order.find("order 3"), 7, "order nan");
  REQUIRE_THROWS_AS(load(nan_order), elm::FormatError);
  std::string big_count = text;
  big_count.replace(big_count.find("trigrams"), std::string::npos, "trigrams 1\n0 0 1 9223372036854775807\nend\n");
  REQUIRE_THROWS_WITH(load(big_count), Contains("1 <= count <= 2^40"));
  std::vector<TaggedSentence> spaced{{{"a b"}, {"x"}}};
  std::ostringstream sink;
  REQUIRE_THROWS_WITH(elm::io::save_pos_tagger(PosTagger::train(spaced), sink), Contains("contains whitespace"));

  // A file: written atomically, read back to the same text; a missing file is an IoError naming it.
  const auto dir = std::filesystem::temp_directory_path() / "elm-tests-hmm";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "tagger.txt").string();
  elm::io::save_pos_tagger(PosTagger::train(train), path);
  std::ostringstream reread;
  elm::io::save_pos_tagger(elm::io::load_pos_tagger(path), reread);
  CHECK(reread.str() == text);
  REQUIRE_THROWS_AS(elm::io::load_pos_tagger((dir / "missing.txt").string()), elm::IoError);
  REQUIRE_THROWS_WITH(elm::io::load_pos_tagger((dir / "missing.txt").string()), Contains("missing.txt"));
}
