// SPDX-License-Identifier: MIT
// elm-tokenize: GPT-2 byte-level BPE and BERT WordPiece on the command line (text on stdin, ids on stdout).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/core/error.hpp"
#include "elm/text/bpe_tokenizer.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"

namespace {

std::string read_stdin() {
  std::ostringstream s;
  s << std::cin.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<elm::Index> parse_ids_line(const std::string& line, std::size_t line_no) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  ELM_EXPECT(j.is_array(), elm::FormatError, "elm-tokenize: stdin line ", line_no, " is not a JSON array of ids");
  std::vector<elm::Index> ids;
  for (const auto& v : j) {
    ELM_EXPECT(v.is_number_integer(), elm::FormatError, "elm-tokenize: stdin line ", line_no,
               " has a non-integer id, expected a JSON array of integers");
    ids.push_back(v.get<elm::Index>());
  }
  return ids;
}

std::string parse_text_line(const std::string& line, std::size_t line_no) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  ELM_EXPECT(j.is_string(), elm::FormatError, "elm-tokenize: stdin line ", line_no, " is not a JSON string");
  return j.get<std::string>();
}

std::vector<elm::Index> parse_plain_ids(const std::string& text) {
  std::istringstream in(text);
  std::vector<elm::Index> ids;
  std::string word;
  while (in >> word) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ELM_EXPECT(used == word.size(), elm::FormatError, "elm-tokenize: '", word, "' is not an integer id");
    ids.push_back(static_cast<elm::Index>(v));
  }
  return ids;
}

// Runs encode (text -> ids) or decode (ids -> text) over stdin in plain or JSON-lines form.
template <typename Encode, typename Decode>
void run(bool jsonl, bool decode, Encode&& encode, Decode&& decode_ids) {
  const std::string input = read_stdin();
  if (!jsonl) {
    if (decode) {
      fmt::print("{}", decode_ids(parse_plain_ids(input)));
    } else {
      fmt::print("{}\n", fmt::join(encode(input), " "));
    }
    return;
  }
  std::size_t line_no = 0;
  for (const std::string& line : lines_of(input)) {
    ++line_no;
    if (decode) {
      // Decoded bytes may split a character; the JSON dump replaces such bytes rather than fail.
      fmt::print("{}\n", nlohmann::json(decode_ids(parse_ids_line(line, line_no)))
                             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
      fmt::print("{}\n", nlohmann::json(encode(parse_text_line(line, line_no))).dump());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tokenize text from stdin with GPT-2 byte-level BPE or BERT WordPiece (Hugging Face compatible)"};
  app.require_subcommand(1);
  bool jsonl = false;
  bool decode = false;

  auto* bpe = app.add_subcommand("bpe", "GPT-2 byte-level BPE: vocab.json + merges.txt");
  std::string bpe_vocab, bpe_merges;
  bpe->add_option("--vocab", bpe_vocab, "vocab.json (e.g. examples/data/gpt2/vocab.json)")->required();
  bpe->add_option("--merges", bpe_merges, "merges.txt (e.g. examples/data/gpt2/merges.txt)")->required();
  bpe->add_flag("--jsonl", jsonl, "each input line is a JSON string, each output line a JSON array of ids");
  bpe->add_flag("--decode", decode, "read ids (JSON arrays with --jsonl) and print the text");

  auto* wp = app.add_subcommand("wordpiece", "BERT WordPiece: vocab.txt");
  std::string wp_vocab;
  bool uncased = false;
  bool special = false;
  wp->add_option("--vocab", wp_vocab, "vocab.txt (e.g. examples/data/bert-base-uncased/vocab.txt)")->required();
  wp->add_flag("--uncased", uncased, "lower-case and strip accents (bert-base-uncased)");
  wp->add_flag("--jsonl", jsonl, "each input line is a JSON string, each output line a JSON array of ids");
  wp->add_flag("--special", special, "add [CLS] and [SEP]");
  wp->add_flag("--decode", decode, "read ids (JSON arrays with --jsonl) and print the tokens joined");

  CLI11_PARSE(app, argc, argv);
  try {
    std::ios::sync_with_stdio(false);
    if (bpe->parsed()) {
      const auto t = elm::text::BpeTokenizer::from_files(bpe_vocab, bpe_merges);
      run(jsonl, decode, [&](const std::string& s) { return t.encode(s); },
          [&](const std::vector<elm::Index>& ids) { return t.decode(ids); });
    } else {
      elm::text::WordPieceConfig config;
      config.lowercase = uncased;
      const auto t = elm::text::WordPieceTokenizer::from_file(wp_vocab, config);
      elm::text::EncodeOptions options;
      options.add_special_tokens = special;
      run(jsonl, decode, [&](const std::string& s) { return t.encode(s, options).ids; },
          [&](const std::vector<elm::Index>& ids) { return t.decode(ids, !special); });
    }
  } catch (const std::exception& e) {  // elm::Error or any other: a message and status 1
    std::fflush(stdout);
    fmt::print(stderr, "{}\n", e.what());
    return 1;
  }
  return 0;
}
