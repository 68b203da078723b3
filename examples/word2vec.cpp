// SPDX-License-Identifier: MIT
// elm-word2vec: train word vectors (the original tool's options), query neighbours and analogies, evaluate them on
// word-similarity and analogy test sets, and convert between the text and binary vector formats.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "elm/io/word_vectors.hpp"
#include "elm/models/keyed_vectors.hpp"
#include "elm/models/word2vec.hpp"

namespace {

using elm::io::WordVectorFormat;

WordVectorFormat format_of(bool binary) { return binary ? WordVectorFormat::binary : WordVectorFormat::text; }

void print_neighbors(const std::vector<elm::models::Neighbor>& list) {
  for (const auto& n : list) fmt::print("{:<24} {:.6f}\n", n.word, n.similarity);
}

std::ifstream open_or_throw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) throw elm::IoError("elm-word2vec: cannot open " + path);
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"word2vec: train word vectors (skip-gram or CBOW), query and evaluate them.\n"
               "Vector files are in the word2vec text format, or binary with --binary (gensim and the C tool read both)."};
  app.require_subcommand(1);

  // ---- train ----
  auto* train = app.add_subcommand("train", "Train vectors on a text file (one sentence per line)");
  std::string text_path, output_path;
  bool binary_out = false, quiet = false, char_level = false;
  elm::models::Word2VecConfig cfg;
  int hs = 0, cbow = 0;
  std::int64_t min_count = 5;
  std::uint64_t seed = 1;
  train->add_option("--text", text_path, "Training text: tokens separated by spaces, one sentence per line")->required();
  train->add_option("--output", output_path, "Output vector file")->required();
  train->add_flag("--binary", binary_out, "Write the binary format (default: text)");
  train->add_option("--size", cfg.size, "Vector dimension")->capture_default_str();
  train->add_option("--window", cfg.window, "Maximum skip length between words")->capture_default_str();
  train->add_option("--negative", cfg.negative, "Negative examples per word (0: none)")->capture_default_str();
  train->add_option("--hs", hs, "1: hierarchical softmax")->capture_default_str();
  train->add_option("--sample", cfg.sample, "Subsampling threshold for frequent words (0: off)")->capture_default_str();
  train->add_option("--min-count", min_count, "Discard words occurring fewer times")->capture_default_str();
  train->add_option("--iter", cfg.iter, "Training epochs")->capture_default_str();
  cfg.threads = 2;  // the original tool runs several threads by default
  train->add_option("--threads", cfg.threads, "Worker threads (results reproducible with 1 only)")->capture_default_str();
  train->add_option("--cbow", cbow, "1: continuous bag of words, 0: skip-gram")->capture_default_str();
  train->add_option("--alpha", cfg.alpha, "Starting learning rate (default 0.025 skip-gram, 0.05 CBOW)");
  train->add_option("--seed", seed, "Random seed")->capture_default_str();
  train->add_flag("--char-level", char_level,
                  "Every non-space character is a token (Chinese or Japanese text without spaces)");
  train->add_flag("--quiet", quiet, "No progress output");

  // ---- similar ----
  auto* similar = app.add_subcommand("similar", "Nearest words by cosine to the sum of the given words' unit vectors");
  std::string vectors_path;
  bool binary_in = false;
  elm::Index topn = 10, restrict_vocab = 0;
  std::vector<std::string> words, negative_words;
  similar->add_option("--vectors", vectors_path, "Vector file")->required();
  similar->add_flag("--binary", binary_in, "The vector file is binary");
  similar->add_option("--topn", topn, "Number of neighbours")->capture_default_str();
  similar->add_option("--restrict", restrict_vocab, "Search only the most frequent N words (0: all)");
  similar->add_option("--minus", negative_words, "Words to subtract");
  similar->add_option("words", words, "Query words")->required();

  // ---- analogy ----
  auto* analogy = app.add_subcommand("analogy", "a b c: the word d such that a is to b as c is to d");
  std::string method_name = "add";
  std::vector<std::string> abc;
  analogy->add_option("--vectors", vectors_path, "Vector file")->required();
  analogy->add_flag("--binary", binary_in, "The vector file is binary");
  analogy->add_option("--topn", topn, "Number of answers")->capture_default_str();
  analogy->add_option("--restrict", restrict_vocab, "Search only the most frequent N words (0: all)");
  analogy->add_option("--method", method_name, "add (3CosAdd) or mul (3CosMul)")
      ->check(CLI::IsMember({"add", "mul"}))
      ->capture_default_str();
  analogy->add_option("words", abc, "a b c")->required()->expected(3);

  // ---- evaluate ----
  auto* evaluate = app.add_subcommand("evaluate", "Analogy accuracy and word-similarity correlation, as gensim");
  std::string analogies_path, pairs_path;
  bool case_sensitive = false, per_section = false;
  elm::Index eval_restrict = 300000;
  evaluate->add_option("--vectors", vectors_path, "Vector file")->required();
  evaluate->add_flag("--binary", binary_in, "The vector file is binary");
  evaluate->add_option("--analogies", analogies_path, "Questions file (questions-words.txt layout)");
  evaluate->add_option("--similarity", pairs_path, "Word pairs with human scores (word1<TAB>word2<TAB>score)");
  evaluate->add_option("--restrict", eval_restrict, "Only the most frequent N words count")->capture_default_str();
  evaluate->add_option("--method", method_name, "Analogy method: add (3CosAdd) or mul (3CosMul)")
      ->check(CLI::IsMember({"add", "mul"}))
      ->capture_default_str();
  evaluate->add_flag("--case-sensitive", case_sensitive, "Do not upper-case words before lookup");
  evaluate->add_flag("--sections", per_section, "Print the accuracy of each analogy section");

  // ---- convert ----
  auto* convert = app.add_subcommand("convert", "Rewrite a vector file in the text or binary format");
  std::string input_path;
  bool input_binary = false;
  convert->add_option("--input", input_path, "Input vector file")->required();
  convert->add_flag("--input-binary", input_binary, "The input is binary");
  convert->add_option("--output", output_path, "Output vector file")->required();
  convert->add_flag("--binary", binary_out, "Write the binary format (default: text)");

  CLI11_PARSE(app, argc, argv);

  try {
    const auto method = method_name == "mul" ? elm::models::AnalogyMethod::mul : elm::models::AnalogyMethod::add;
    if (train->parsed()) {
      cfg.hs = hs != 0;
      cfg.cbow = cbow != 0;
      std::ifstream in = open_or_throw(text_path);
      const auto corpus = elm::models::build_word2vec_corpus(
          in, min_count, char_level ? elm::models::Tokenization::characters : elm::models::Tokenization::whitespace,
          text_path);
      if (!quiet)
        fmt::print(stderr, "Vocab size: {}\nWords in train file: {}\n", corpus.vocab_size(), corpus.tokens.size());
      elm::Rng rng(seed);
      const auto start = std::chrono::steady_clock::now();
      double last_rate = 0.0;
      const auto model = elm::models::Word2Vec::train(corpus, cfg, rng, [&](const elm::models::Word2VecProgress& p) {
        last_rate = p.words_per_second_per_thread;
        if (!quiet)
          fmt::print(stderr, "\rAlpha: {:.6f}  Progress: {:.2f}%  Words/thread/sec: {:.2f}k  ", p.alpha,
                     100.0 * p.fraction, p.words_per_second_per_thread / 1000.0);
      });
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!quiet)
        fmt::print(stderr, "\nTrained in {:.2f} s ({:.0f} words/s/thread)\n", seconds, last_rate);
      elm::io::WordVectors wv{model.words(), model.input_vectors()};
      elm::io::write_word_vectors(output_path, wv, format_of(binary_out));
    } else if (similar->parsed()) {
      const elm::models::KeyedVectors kv(elm::io::read_word_vectors(vectors_path, format_of(binary_in)));
      print_neighbors(kv.most_similar(words, negative_words, topn, restrict_vocab));
    } else if (analogy->parsed()) {
      const elm::models::KeyedVectors kv(elm::io::read_word_vectors(vectors_path, format_of(binary_in)));
      print_neighbors(kv.analogy(abc[0], abc[1], abc[2], topn, method, restrict_vocab));
    } else if (evaluate->parsed()) {
      if (analogies_path.empty() && pairs_path.empty())
        throw elm::InvalidArgument("elm-word2vec evaluate: expected --analogies FILE, --similarity FILE or both");
      const elm::models::KeyedVectors kv(elm::io::read_word_vectors(vectors_path, format_of(binary_in)));
      if (!analogies_path.empty()) {
        std::ifstream in = open_or_throw(analogies_path);
        const auto r = kv.evaluate_analogies(in, analogies_path, eval_restrict, !case_sensitive, method);
        if (per_section)
          for (const auto& s : r.sections)
            if (s.correct + s.incorrect > 0)
              fmt::print("  {:<32} {:6.2f}% ({}/{})\n", s.name, 100.0 * double(s.correct) / double(s.correct + s.incorrect),
                         s.correct, s.correct + s.incorrect);
        fmt::print("analogy accuracy: {:.2f}% ({}/{} covered questions, {} skipped)\n", 100.0 * r.accuracy(), r.correct,
                   r.correct + r.incorrect, r.skipped);
      }
      if (!pairs_path.empty()) {
        std::ifstream in = open_or_throw(pairs_path);
        const auto r = kv.evaluate_word_pairs(in, pairs_path, eval_restrict, !case_sensitive);
        fmt::print("word similarity: spearman {:.4f}, pearson {:.4f} ({} pairs, {:.1f}% out of vocabulary)\n",
                   r.spearman, r.pearson, r.pairs, r.oov_ratio());
      }
    } else if (convert->parsed()) {
      const auto wv = elm::io::read_word_vectors(input_path, format_of(input_binary));
      elm::io::write_word_vectors(output_path, wv, format_of(binary_out));
    }
  } catch (const std::exception& e) {  // elm::Error or any other: a message and status 1
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
