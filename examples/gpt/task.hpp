// SPDX-License-Identifier: MIT
// elm-gpt's training tasks: the bundled corpora split into training text and held-out units (Austen's
// paragraphs with GPT-2's byte-level BPE, Austen's sentences or the Tang poems character by character), and the
// tokenizer and files of a model directory.
#pragma once

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "../common/austen.hpp"
#include "../common/lm_corpus.hpp"
#include "elm/core/error.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/text/bpe_tokenizer.hpp"
#include "elm/text/split_tokenizer.hpp"
#include "elm/text/vocabulary.hpp"
#include "elm/train/token_windows.hpp"

namespace elm::examples::gpt {

namespace fs = std::filesystem;

/// The tasks `train` and `eval` know.
inline const std::vector<std::string> task_names{"austen", "austen-chars", "tang"};

/// The folder of examples/data/ a task reads by default.
inline std::string task_data_name(const std::string& task) { return task == "tang" ? "chinese-poetry" : "austen"; }

/// A model's tokenizer: GPT-2's byte-level BPE (vocab.json and merges.txt) or characters over a closed
/// vocabulary (vocab.txt, one token per line, as elm-lstm-lm writes it).
struct Tokenizer {
  std::shared_ptr<const text::BpeTokenizer> bpe;  // shared: a BpeTokenizer does not copy
  std::optional<text::SplitTokenizer> chars;
  std::string bpe_dir;  ///< where vocab.json and merges.txt were read (copied into a saved model)

  bool is_bpe() const { return bpe != nullptr; }
  Index size() const { return bpe ? bpe->vocab_size() : chars->size(); }
  std::vector<Index> encode(const std::string& text) const { return bpe ? bpe->encode(text) : chars->encode(text); }
  std::string decode(const std::vector<Index>& ids) const { return bpe ? bpe->decode(ids) : chars->decode(ids); }

  static Tokenizer bpe_from(const std::string& dir) {
    Tokenizer t;
    t.bpe = std::make_shared<const text::BpeTokenizer>(io::load_gpt2_tokenizer(dir));
    t.bpe_dir = dir;
    return t;
  }

  /// The tokenizer files of a model directory: vocab.json and merges.txt, or vocab.txt. Throws IoError naming
  /// the directory when it has neither.
  static Tokenizer from_directory(const std::string& dir) {
    if (fs::exists(fs::path(dir) / "vocab.json")) return bpe_from(dir);
    const auto vocab_txt = fs::path(dir) / "vocab.txt";
    ELM_EXPECT(fs::exists(vocab_txt), IoError, "elm-gpt: ", dir, " has neither vocab.json and merges.txt (byte-level ",
               "BPE) nor vocab.txt (characters): not a model directory of elm-gpt train or Hugging Face");
    Tokenizer t;
    t.chars.emplace(text::Vocabulary::from_file(vocab_txt.string()), text::SplitUnit::characters);
    return t;
  }

  /// Writes the tokenizer's files into a model directory.
  void save(const std::string& dir) const {
    if (bpe) {
      for (const char* name : {"vocab.json", "merges.txt"})
        if (fs::absolute(fs::path(bpe_dir) / name) != fs::absolute(fs::path(dir) / name))
          fs::copy_file(fs::path(bpe_dir) / name, fs::path(dir) / name, fs::copy_options::overwrite_existing);
    } else {
      io::write_text_atomically((fs::path(dir) / "vocab.txt").string(), chars->vocabulary().to_text());
    }
  }
};

/// A task's data for a language model: the training stream "b u_1 b u_2 b ..." of units (paragraphs, sentences
/// or poems) joined by the boundary token b, and the held-out units, each scored on its own from b as the n-gram
/// models score sentences. Every tenth unit (i % 10 == 9, counted over the corpus) is held out.
struct Task {
  std::string name;
  std::string unit;  ///< what a unit is: "paragraph", "sentence", "poem"
  Tokenizer tokenizer;
  Index boundary_id = 0;
  Index unk_id = -1;    ///< -1: no unknown token (byte-level BPE)
  Index unk_types = 1;  ///< types of the training text that share <unk> (see models::SentencePerplexity)
  std::vector<Index> train_stream;
  std::vector<std::vector<Index>> held_out;
  std::size_t train_units = 0;
  std::vector<std::size_t> held_out_chars;  ///< each held-out unit's characters (code points) and its end's

  /// Keeps the first n held-out units (all when n is 0 or more than there are).
  void keep_held_out(std::size_t n) {
    if (n == 0 || n >= held_out.size()) return;
    held_out.resize(n);
    held_out_chars.resize(n);
  }
  /// The characters of the held-out units with their ends.
  double characters() const {
    double sum = 0.0;
    for (std::size_t c : held_out_chars) sum += double(c);
    return sum;
  }
};

namespace detail {

inline std::size_t code_points(const std::string& s) {
  // every byte but UTF-8's continuation bytes (10xxxxxx) starts a code point
  return std::size_t(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Paragraphs of a text wrapped in lines (Project Gutenberg's layout): blocks between blank lines, their lines
// joined by single spaces.
inline std::vector<std::string> paragraphs(const std::string& text) {
  std::vector<std::string> out;
  std::string paragraph, line;
  std::istringstream in(text);
  const auto flush = [&] {
    if (!paragraph.empty()) out.push_back(paragraph);
    paragraph.clear();
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) {
      flush();
      continue;
    }
    const auto last = line.find_last_not_of(" \t");
    if (!paragraph.empty()) paragraph += ' ';
    paragraph += line.substr(first, last - first + 1);
  }
  flush();
  return out;
}

// Units of a corpus split 90/10 (unit i held out when i % 10 == 9).
inline void split_units(std::vector<std::string> units, std::vector<std::string>& train,
                        std::vector<std::string>& test) {
  for (std::size_t i = 0; i < units.size(); ++i) (i % 10 == 9 ? test : train).push_back(std::move(units[i]));
}

// A character tokenizer fitted to the training units (<unk> and </s> first), or the given one; with <unk>'s
// share: the training types outside its vocabulary, plus one.
inline void char_task(Task& t, const std::vector<std::string>& train, const std::vector<std::string>& test,
                      const std::optional<Tokenizer>& given) {
  if (given) {
    ELM_EXPECT(!given->is_bpe(), InvalidArgument, "elm-gpt: task ", t.name,
               " is character-level, but the model's tokenizer is byte-level BPE (vocab.json)");
    t.tokenizer = *given;
  } else {
    t.tokenizer.chars = text::SplitTokenizer::fit(train, text::SplitUnit::characters, /*min_count=*/2, lm_specials);
  }
  const auto& chars = *t.tokenizer.chars;
  t.unk_id = chars.unk_id();
  t.boundary_id = chars.vocabulary().find("</s>");
  ELM_EXPECT(t.boundary_id >= 0, FormatError, "elm-gpt: the character vocabulary lacks </s>");
  std::unordered_set<std::string> unseen;
  for (const auto& line : train)
    for (const auto& u : text::split_units(line, text::SplitUnit::characters))
      if (chars.vocabulary().find(u) < 0) unseen.insert(std::string(u));
  t.unk_types = Index(unseen.size()) + 1;
  t.train_stream = train::sentence_stream(encode_lines(chars, train), t.boundary_id);
  t.held_out = encode_lines(chars, test);
  t.train_units = train.size();
  for (const auto& s : test) t.held_out_chars.push_back(code_points(s) + 1);
}

}  // namespace detail

/// Loads a task from its folder. `given`: the model's tokenizer (eval, fine-tuning, resuming), else the task's
/// own: GPT-2's BPE from bpe_dir for austen, characters fitted to the training units otherwise.
/// - austen: the novels' paragraphs as written (case, punctuation), GPT-2's byte-level BPE; the boundary is the
///   token of "\n\n".
/// - austen-chars: the sentences of the demo and elm-lstm-lm (examples/common/austen.hpp: lower-cased, words
///   separated by spaces), characters; the boundary is </s>.
/// - tang: one poem per line, characters (Chinese); the boundary is </s>.
inline Task load_task(const std::string& name, const std::string& data_dir, const std::string& bpe_dir,
                      const std::optional<Tokenizer>& given = std::nullopt) {
  Task t;
  t.name = name;
  std::vector<std::string> train, test;
  if (name == "austen-chars") {
    t.unit = "sentence";
    auto split = load_austen(data_dir);
    detail::char_task(t, split.train, split.test, given);
    return t;
  }
  for (const auto& path : text_files(data_dir, "elm-gpt")) {
    const io::MappedFile file(path.string(), "elm-gpt");
    const std::string text(file.text());
    if (name == "tang") {
      std::vector<std::string> lines;
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
      detail::split_units(std::move(lines), train, test);
    } else {
      detail::split_units(detail::paragraphs(text), train, test);
    }
  }
  if (name == "tang") {
    t.unit = "poem";
    detail::char_task(t, train, test, given);
    return t;
  }
  ELM_EXPECT(name == "austen", InvalidArgument, "elm-gpt: unknown task '", name,
             "', expected austen, austen-chars or tang");
  t.unit = "paragraph";
  if (given) {
    ELM_EXPECT(given->is_bpe(), InvalidArgument,
               "elm-gpt: task austen uses GPT-2's byte-level BPE, but the model's tokenizer is characters (vocab.txt)");
    t.tokenizer = *given;
  } else {
    t.tokenizer = Tokenizer::bpe_from(bpe_dir);
  }
  const auto boundary = t.tokenizer.encode("\n\n");
  ELM_EXPECT(boundary.size() == 1, FormatError, "elm-gpt: the BPE vocabulary encodes \"\\n\\n\" as ", boundary.size(),
             " tokens, expected one (GPT-2's 628)");
  t.boundary_id = boundary[0];
  t.train_stream = train::sentence_stream(t.tokenizer.bpe->encode_batch(train), t.boundary_id);
  t.held_out = t.tokenizer.bpe->encode_batch(test);
  t.train_units = train.size();
  for (const auto& p : test) t.held_out_chars.push_back(detail::code_points(p) + 2);  // "\n\n" ends it
  return t;
}

/// Writes a model directory: Hugging Face's config.json and model.safetensors (io::save_gpt2_hf) and the
/// tokenizer's files.
template <typename Scalar>
void save_model_directory(const models::Gpt2<Scalar>& model, const Tokenizer& tokenizer, const std::string& dir) {
  io::save_gpt2_hf(model, dir);
  tokenizer.save(dir);
}

}  // namespace elm::examples::gpt
