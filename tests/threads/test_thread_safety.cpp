// SPDX-License-Identifier: MIT
// The library's parallel paths on several threads: OpenMP loops inside the library (HMM over many sequences,
// the product and matrix-vector kernels, attention, LayerNorm, the recurrent cells, batch tokenization) and
// shared read-only objects used from several std::threads at once (a tokenizer, an n-gram model). Each result
// must equal the one-thread result. The test command builds this folder with ThreadSanitizer and OpenMP
// (scripts/test.sh, clang with libomp and its Archer tool), where a data race in any of these paths is a failure.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "elm/classic/baum_welch.hpp"
#include "elm/classic/forward_backward.hpp"
#include "elm/classic/ngram_model.hpp"
#include "elm/classic/viterbi.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/arpa.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/nn/conv2d.hpp"
#include "elm/nn/product_kernel.hpp"
#include "elm/nn/quantized_weights.hpp"
#include "elm/text/bpe_tokenizer.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"

using elm::Index;

namespace {

constexpr int team = 4;  // more threads than CI's two cores: interleavings a two-thread team would not try

/// Runs f with OpenMP teams of `threads` threads (without OpenMP: f once, serially).
template <typename F>
auto with_threads(int threads, F&& f) {
#ifdef _OPENMP
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto result = f();
  omp_set_num_threads(before);
  return result;
#else
  (void)threads;
  return f();
#endif
}

/// Runs body(t) on `count` std::threads at once and joins them.
template <typename Body>
void on_threads(int count, Body&& body) {
  std::vector<std::thread> threads;
  for (int t = 0; t < count; ++t) threads.emplace_back([&body, t] { body(t); });
  for (auto& thread : threads) thread.join();
}

std::vector<std::string> corpus_lines(std::size_t count) {
  std::ifstream in(ELM_TEST_DATA_DIR "/ngram/test.txt");
  REQUIRE(in.good());
  std::vector<std::string> lines;
  for (std::string line; lines.size() < count && std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  REQUIRE(lines.size() == count);
  return lines;
}

elm::classic::Hmm<double> random_hmm(Index n, Index v, elm::Rng& rng) {
  const auto row = [&](Index size) {
    elm::Vector<double> r(size);
    for (Index j = 0; j < size; ++j) r(j) = 0.05 + rng.uniform();
    return elm::Vector<double>(r / r.sum());
  };
  elm::Matrix<double> a(n, n), b(n, v);
  for (Index i = 0; i < n; ++i) a.row(i) = row(n).transpose();
  for (Index i = 0; i < n; ++i) b.row(i) = row(v).transpose();
  return elm::classic::Hmm<double>(row(n), a, b);
}

}  // namespace

TEST_CASE("HMM scoring, decoding and EM over many sequences give the one-thread results", "[threads][hmm]") {
  using namespace elm::classic;
  elm::Rng rng(5);
  for (const Index states : {Index(6), Index(40)}) {  // the padded SIMD kernels (N <= 32) and the general path
    const auto hmm = random_hmm(states, 12, rng);
    std::vector<Sequence> sequences;
    for (int s = 0; s < 24; ++s) sequences.push_back(hmm.sample(20 + Index(rng.below(40)), rng).symbols);
    const auto run = [&] {
      const double ll = log_likelihood(hmm, sequences);
      const auto paths = viterbi(hmm, sequences);
      const auto counts = BaumWelch<double>().expected_counts(hmm, sequences);
      return std::make_tuple(ll, paths, counts.trans, counts.emission);
    };
    const auto one = with_threads(1, run);
    const auto many = with_threads(team, run);
    CHECK(std::get<0>(many) == std::get<0>(one));  // summed in sequence order whatever the team
    for (std::size_t s = 0; s < sequences.size(); ++s) CHECK(std::get<1>(many)[s].path == std::get<1>(one)[s].path);
    CHECK(std::get<2>(many).isApprox(std::get<2>(one), 1e-12));
    CHECK(std::get<3>(many).isApprox(std::get<3>(one), 1e-12));
  }
}

TEST_CASE("a GPT-2 training step and a KV-cached decode give the one-thread results", "[threads][gpt2]") {
  // Wide enough that the products, attention, LayerNorm and the decode's matrix-vector kernel split their work.
  elm::models::Gpt2Config config;
  config.vocab_size = 512;
  config.n_positions = 64;
  config.n_embd = 256;  // the MLP's 256 x 1024 weights pass the matrix-vector kernel's threshold for threads
  config.n_layer = 2;
  config.n_head = 4;
  elm::Rng rng(9);
  const elm::models::Gpt2<float> initial(config, rng);
  std::vector<Index> ids(2 * 48), targets(ids.size());
  for (auto& id : ids) id = Index(rng.below(512));
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) targets[i] = ids[i + 1];
  targets[47] = targets[95] = -100;
  const auto step = [&] {
    elm::models::Gpt2<float> model = initial;
    model.zero_grad();
    const double loss = model.loss_and_backward(ids, {48, 48}, targets);
    std::vector<elm::Matrix<float>> grads;
    model.for_each_parameter("", [&](const std::string&, elm::nn::Parameter<float>& p) { grads.push_back(p.grad); });
    auto kv = model.make_kv_caches(1, 16);
    elm::Matrix<float> logits, decoded(config.vocab_size, 16);
    for (Index t = 0; t < 16; ++t) {
      model.forward_incremental({ids[std::size_t(t)]}, kv, logits);
      decoded.col(t) = logits.col(0);
    }
    return std::make_tuple(loss, grads, decoded);
  };
  const auto one = with_threads(1, step);
  const auto many = with_threads(team, step);
  CHECK(std::get<0>(many) == Approx(std::get<0>(one)).epsilon(1e-6));
  for (std::size_t p = 0; p < std::get<1>(one).size(); ++p)
    CHECK(std::get<1>(many)[p].isApprox(std::get<1>(one)[p], 1e-4f));
  CHECK(std::get<2>(many).isApprox(std::get<2>(one), 1e-5f));
}

TEST_CASE("a convolution's forward and backward give the one-thread results, bit for bit", "[threads][conv]") {
  // 32 -> 32 channels: the direct products where the CPU has AVX2 or AVX-512 (each output column one tile's,
  // the weight gradient's partial sums set by the pixel count), the im2col route elsewhere
  elm::Rng rng(17);
  const elm::nn::Conv2d<float> initial(elm::nn::Conv2dConfig{32, 32, {3, 3}, {1, 1}, {1, 1}}, rng);
  const elm::nn::ImageShape shape{3, 24, 24};
  elm::Matrix<float> x(32, 3 * 24 * 24), dy(32, 3 * 24 * 24);
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(dy, 0.0, 1.0);
  const auto step = [&] {
    elm::nn::Conv2d<float> conv = initial;
    conv.zero_grad();
    elm::nn::Conv2d<float>::Cache cache;
    std::vector<elm::Matrix<float>> out(4);
    conv.forward(x, shape, out[0], &cache);
    conv.backward(cache, dy, out[1]);
    out[2] = conv.weight().grad;
    out[3] = conv.bias().grad;
    return out;
  };
  const auto one = with_threads(1, step);
  const auto many = with_threads(team, step);
  for (std::size_t i = 0; i < one.size(); ++i) {
    INFO("y, dx, dweight, dbias: " << i);
    CHECK(many[i] == one[i]);
  }
}

TEST_CASE("bf16 and int8 weights' products give the one-thread results, bit for bit", "[threads][quantized]") {
  // a prompt's 40 columns (AMX tiles where the CPU has them, else the VNNI integer product for int8 or float
  // panels) and decoding's 1 (the matrix-vector kernel), rows starting inside a storage tile of 8
  elm::Rng rng(23);
  elm::Matrix<float> w(300, 200), x(200, 40), bias(290, 1);
  rng.fill_normal(w, 0.0, 1.0);
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(bias, 0.0, 1.0);
  std::vector<bool> tiles{false};
  if (elm::nn::amx_products_supported()) tiles.push_back(true);
  for (const elm::nn::WeightDType dtype : {elm::nn::WeightDType::bf16, elm::nn::WeightDType::int8})
    for (const bool on : tiles) {
      const elm::nn::QuantizedWeights q(w, dtype);
      const elm::nn::ScopedAmxProducts scoped(on);
      const auto products = [&] {
        std::vector<elm::Matrix<float>> out(2);
        q.multiply(x, 5, 290, out[0], bias.data());
        q.multiply(x.leftCols(1), 5, 290, out[1], bias.data());
        return out;
      };
      const auto one = with_threads(1, products);
      const auto many = with_threads(team, products);
      INFO(elm::nn::weight_dtype_name(dtype) << (on ? ", AMX tiles" : ""));
      CHECK(many[0] == one[0]);
      CHECK(many[1] == one[1]);
    }
}

TEST_CASE("an LSTM language model's forward and backward give the one-thread results", "[threads][lstm]") {
  elm::Rng rng(13);
  const elm::models::LstmLm<float> initial({300, 64, 256, 2}, rng);
  std::vector<Index> ids(3 * 20), targets(ids.size(), -100);
  for (auto& id : ids) id = Index(rng.below(300));
  for (std::size_t i = 0; i + 1 < ids.size(); ++i)
    if ((i + 1) % 20 != 0) targets[i] = ids[i + 1];
  const auto step = [&] {
    elm::models::LstmLm<float> model = initial;
    model.zero_grad();
    const double loss = model.loss_and_backward(ids, {20, 20, 20}, targets);
    std::vector<elm::Matrix<float>> grads;
    model.for_each_parameter("", [&](const std::string&, elm::nn::Parameter<float>& p) { grads.push_back(p.grad); });
    return std::make_pair(loss, grads);
  };
  const auto one = with_threads(1, step);
  const auto many = with_threads(team, step);
  CHECK(many.first == Approx(one.first).epsilon(1e-6));
  for (std::size_t p = 0; p < one.second.size(); ++p) CHECK(many.second[p].isApprox(one.second[p], 1e-4f));
}

TEST_CASE("one tokenizer serves several threads, and batch encoding splits its texts among a team",
          "[threads][tokenizers]") {
  const auto lines = corpus_lines(64);
  const auto bpe = elm::text::BpeTokenizer::from_files(ELM_SOURCE_DIR "/examples/data/gpt2/vocab.json",
                                                       ELM_SOURCE_DIR "/examples/data/gpt2/merges.txt");
  const auto wordpiece =
      elm::text::WordPieceTokenizer::from_file(ELM_SOURCE_DIR "/examples/data/bert-base-uncased/vocab.txt");
  std::vector<std::vector<Index>> bpe_serial, wordpiece_serial;
  for (const auto& line : lines) {
    bpe_serial.push_back(bpe.encode(line));
    wordpiece_serial.push_back(wordpiece.encode(line).ids);
  }
  std::vector<std::vector<std::vector<Index>>> bpe_each(team), wordpiece_each(team);
  on_threads(team, [&](int t) {
    for (const auto& line : lines) {
      bpe_each[std::size_t(t)].push_back(bpe.encode(line));
      wordpiece_each[std::size_t(t)].push_back(wordpiece.encode(line).ids);
    }
  });
  for (int t = 0; t < team; ++t) {
    CHECK(bpe_each[std::size_t(t)] == bpe_serial);
    CHECK(wordpiece_each[std::size_t(t)] == wordpiece_serial);
  }
  const auto batch = with_threads(team, [&] { return bpe.encode_batch(lines); });
  CHECK(batch == bpe_serial);
  const auto encodings = with_threads(team, [&] { return wordpiece.encode_batch(lines); });
  for (std::size_t i = 0; i < lines.size(); ++i) CHECK(encodings[i].ids == wordpiece_serial[i]);
}

TEST_CASE("one n-gram model answers queries from several threads", "[threads][ngram]") {
  const elm::classic::NgramModel model(elm::io::read_arpa(std::string(ELM_TEST_DATA_DIR "/ngram/lmplz_prune_o3.arpa")));
  const auto lines = corpus_lines(200);
  elm::classic::NgramPerplexity serial;
  for (const auto& line : lines) model.accumulate(line, serial);
  std::vector<elm::classic::NgramPerplexity> each(team);
  on_threads(team, [&](int t) {
    for (const auto& line : lines) model.accumulate(line, each[std::size_t(t)]);
  });
  for (const auto& totals : each) {
    CHECK(totals.log10_prob == serial.log10_prob);
    CHECK(totals.tokens == serial.tokens);
    CHECK(totals.oov == serial.oov);
  }
}
