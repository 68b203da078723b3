// SPDX-License-Identifier: MIT
// BERT's masked language modelling: the masking's statistics as properties (rates, special tokens and padding
// never selected, whole words whole, the same seed the same masks), fill-mask against transformers' fill-mask
// pipeline, the prediction head at selected positions against the full head, the trainer's masked-LM data, and
// the errors of bad input.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "bert_random.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/masked_lm.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/models/masked_lm_training.hpp"

using Catch::Matchers::Contains;

namespace masked_lm_test {

using elm::Index;
using elm::Matrix;
using elm::models::BertBatch;
using elm::models::BertForMaskedLM;
using elm::models::MaskingOptions;
using elm::models::TokenMasker;

constexpr Index V = 1000, mask_id = 4;
const std::vector<Index> specials{0, 1, 2, 3, 4};  // [PAD] [UNK] [CLS] [SEP] [MASK]

// B sequences "[CLS] w ... w [SEP]" of random lengths in [3, T] with ids in [5, V), padded with 0.
BertBatch random_batch(Index B, Index T, std::uint64_t seed) {
  elm::Rng rng(seed);
  std::vector<std::vector<Index>> seqs;
  for (Index b = 0; b < B; ++b) {
    const Index n = 3 + Index(rng.below(std::uint64_t(T - 2)));
    std::vector<Index> s{2};
    for (Index t = 1; t + 1 < n; ++t) s.push_back(5 + Index(rng.below(std::uint64_t(V - 5))));
    s.push_back(3);
    seqs.push_back(s);
  }
  return BertBatch::pad(seqs, {}, 0);
}

// |observed - expected| within 5 standard errors of a binomial proportion over n trials.
void check_rate(const char* what, double hits, double n, double p) {
  const double sigma = std::sqrt(p * (1 - p) / n);
  INFO(what << ": " << hits / n << " over " << n << ", expected " << p << " +- " << 5 * sigma);
  CHECK(std::abs(hits / n - p) < 5 * sigma);
}

std::string fixture_path(const std::string& name) {
  return std::string(ELM_TEST_DATA_DIR) + "/bert/" + name;
}


TEST_CASE("BERT's masking selects 15 % of the tokens: 80 % [MASK], 10 % random, 10 % unchanged",
          "[models][bert][masked_lm]") {
  const TokenMasker masker(V, mask_id, specials);
  const BertBatch batch = random_batch(400, 64, 1);
  elm::Rng rng(7);
  const elm::models::MaskedBatch m = masker.mask(batch, rng);
  REQUIRE(m.labels.size() == batch.input_ids.size());
  double eligible = 0, selected = 0, masked = 0, random = 0, unchanged = 0;
  for (std::size_t i = 0; i < batch.input_ids.size(); ++i) {
    const Index id = batch.input_ids[i], now = m.inputs.input_ids[i];
    const bool can = batch.attention_mask[i] == 1 && id >= 5;
    eligible += can;
    if (m.labels[i] == -100) {
      CHECK(now == id);  // not selected: unchanged
      continue;
    }
    REQUIRE(can);  // special tokens and padding are never selected
    CHECK(m.labels[i] == id);
    ++selected;
    masked += now == mask_id;
    random += now != mask_id && now != id;
    unchanged += now == id;
  }
  CHECK(m.inputs.attention_mask == batch.attention_mask);
  REQUIRE(eligible > 10000);
  check_rate("selected", selected, eligible, 0.15);
  // a random token is [MASK] or the original with probability 1/V each
  check_rate("[MASK]", masked, selected, 0.8 + 0.1 / V);
  check_rate("random", random, selected, 0.1 * (1.0 - 2.0 / V));
  check_rate("unchanged", unchanged, selected, 0.1 + 0.1 / V);
  CHECK(m.positions().size() == std::size_t(selected));
}

TEST_CASE("The same seed gives the same masks, another seed others", "[models][bert][masked_lm]") {
  MaskingOptions options;
  options.probability = 0.3;
  const TokenMasker masker(V, mask_id, specials, options);
  const BertBatch batch = random_batch(8, 20, 2);
  elm::Rng a(5), b(5), c(6);
  const auto ma = masker.mask(batch, a), mb = masker.mask(batch, b), mc = masker.mask(batch, c);
  CHECK(ma.labels == mb.labels);
  CHECK(ma.inputs.input_ids == mb.inputs.input_ids);
  CHECK(ma.labels != mc.labels);
}

TEST_CASE("Whole-word masking selects a word's pieces together", "[models][bert][masked_lm]") {
  // ids >= 600 are continuations ("##..."): a word is a token below 600 and the continuations after it
  std::vector<bool> continuation(V, false);
  for (Index id = 600; id < V; ++id) continuation[std::size_t(id)] = true;
  MaskingOptions options;
  options.whole_word = true;
  const TokenMasker masker(V, mask_id, specials, options, continuation);
  elm::Rng data_rng(3);
  std::vector<std::vector<Index>> seqs;
  for (int b = 0; b < 300; ++b) {
    std::vector<Index> s{2};
    for (int w = 0; w < 20; ++w) {
      s.push_back(5 + Index(data_rng.below(595)));
      for (std::uint64_t k = data_rng.below(3); k > 0; --k) s.push_back(600 + Index(data_rng.below(400)));
    }
    s.push_back(3);
    seqs.push_back(s);
  }
  const BertBatch batch = BertBatch::pad(seqs, {}, 0);
  elm::Rng rng(11);
  const auto m = masker.mask(batch, rng);
  double words = 0, selected_words = 0;
  const std::size_t T = std::size_t(batch.length());
  for (std::size_t b = 0; b < seqs.size(); ++b)
    for (std::size_t t = 1; t < T && batch.attention_mask[b * T + t] == 1; ++t) {
      const Index id = batch.input_ids[b * T + t];
      if (id < 5 || id >= 600) continue;
      ++words;
      const bool chosen = m.labels[b * T + t] != -100;
      selected_words += chosen;
      for (std::size_t u = t + 1; u < T && batch.input_ids[b * T + u] >= 600; ++u) {
        INFO("sequence " << b << ", word at " << t << ", piece at " << u);
        CHECK((m.labels[b * T + u] != -100) == chosen);
      }
    }
  check_rate("selected words", selected_words, words, 0.15);
  // from a real vocabulary: its "##" pieces are continuations, its special tokens never selected
  const elm::text::WordPieceTokenizer tokenizer = elm::io::load_bert_tokenizer(fixture_path("fill_tiny"));
  const TokenMasker wordpiece = TokenMasker::from_tokenizer(tokenizer, options);
  CHECK(wordpiece.mask_id() == tokenizer.mask_id());
  CHECK_FALSE(wordpiece.eligible(tokenizer.cls_id()));
  CHECK_FALSE(wordpiece.eligible(tokenizer.unk_id()));
  CHECK(wordpiece.eligible(tokenizer.vocabulary().find("cat")));
}

TEST_CASE("fill_mask gives transformers' fill-mask pipeline's tokens and probabilities",
          "[models][bert][masked_lm]") {
  std::ifstream in(fixture_path("fill_tiny.json"));
  REQUIRE(in.good());
  const nlohmann::json fixture = nlohmann::json::parse(in);
  const Index k = fixture.at("meta").at("top_k").get<Index>();
  const auto model = elm::io::load_bert_hf<BertForMaskedLM<float>>(fixture_path("fill_tiny"));
  const elm::text::WordPieceTokenizer tokenizer = elm::io::load_bert_tokenizer(fixture_path("fill_tiny"));
  std::vector<std::vector<Index>> ids;
  for (const auto& c : fixture.at("cases")) {
    const elm::text::Encoding e = tokenizer.encode(c.at("text").get<std::string>());
    CHECK(e.ids == c.at("ids").get<std::vector<Index>>());
    ids.push_back(e.ids);
  }
  // one padded batch of every text: each answer is the pipeline's for its text alone
  const auto predictions = elm::models::fill_mask(model, BertBatch::pad(ids, {}, tokenizer.pad_id()),
                                                  tokenizer.mask_id(), k);
  std::size_t p = 0;
  double worst = 0.0;
  for (std::size_t b = 0; b < fixture.at("cases").size(); ++b)
    for (const auto& mask : fixture.at("cases")[b].at("masks")) {
      REQUIRE(p < predictions.size());
      const auto& got = predictions[p++];
      INFO("text " << b << ", position " << got.position);
      CHECK(got.sequence == Index(b));
      CHECK(got.position == mask.at("position").get<Index>());
      CHECK(got.ids == mask.at("ids").get<std::vector<Index>>());
      const auto scores = mask.at("scores").get<std::vector<double>>();
      REQUIRE(got.probabilities.size() == scores.size());
      for (std::size_t j = 0; j < scores.size(); ++j)
        worst = std::max(worst, std::abs(got.probabilities[j] - scores[j]));
    }
  CHECK(p == predictions.size());
  INFO("largest difference from the pipeline's scores: " << worst);
  CHECK(worst < 1e-5);
  // top_k beyond V gives the whole vocabulary, whose probabilities sum to one
  const auto all = elm::models::fill_mask(model, BertBatch::pad({ids[0]}), tokenizer.mask_id(), 1000);
  REQUIRE(all.size() == 1);
  CHECK(Index(all[0].ids.size()) == model.config().vocab_size);
  double sum = 0.0;
  for (double q : all[0].probabilities) sum += q;
  CHECK(sum == Approx(1.0).epsilon(1e-9));
}

TEST_CASE("The prediction head at selected positions gives the full head's logits and gradients",
          "[models][bert][masked_lm]") {
  const elm::models::BertConfig config = bert_test::config_of(50, 12, 16, 2, 2, 24);
  auto full = bert_test::random_model<BertForMaskedLM<double>>(config, 4);
  auto picked = full;
  const BertBatch batch = bert_test::fixed_batch(config, {7, 4, 9});
  const std::vector<Index> columns{1, 4, 10, 19, 20}, targets{3, 8, 13, 21, 40};
  std::vector<Index> labels(batch.input_ids.size(), -100);
  for (std::size_t i = 0; i < columns.size(); ++i) labels[std::size_t(columns[i])] = targets[i];
  BertForMaskedLM<double>::Cache cf, cp;
  Matrix<double> lf, lp, df, dp;
  full.forward(batch, lf, &cf);
  picked.forward_at(batch, columns, lp, &cp);
  REQUIRE(lp.cols() == Index(columns.size()));
  for (std::size_t i = 0; i < columns.size(); ++i) CHECK((lp.col(Index(i)) - lf.col(columns[i])).norm() < 1e-12);
  const double loss_full = elm::nn::cross_entropy<double>(lf, labels, {}, &df);
  const double loss_picked = elm::nn::cross_entropy<double>(lp, targets, {}, &dp);
  CHECK(loss_picked == Approx(loss_full).epsilon(1e-12));
  full.zero_grad();
  picked.zero_grad();
  full.backward(cf, df);
  picked.backward(cp, dp);
  std::vector<Matrix<double>> grads;
  full.for_each_parameter("", [&](const std::string&, const elm::nn::Parameter<double>& p) { grads.push_back(p.grad); });
  std::size_t n = 0;
  picked.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<double>& p) {
    INFO(name);
    const Matrix<double>& want = grads[n++];
    CHECK((p.grad - want).norm() <= 1e-10 * (1.0 + want.norm()));
  });
}

TEST_CASE("Masked-LM batches for the trainer are reproducible, and training lowers the held-out loss",
          "[models][bert][masked_lm]") {
  const elm::models::BertConfig config = bert_test::config_of(40, 16, 16, 1, 2, 32);
  // a corpus whose tokens are 70 % id 5, the rest spread over 34 others: a model that learns anything from the
  // masked positions predicts 5 (held-out loss from log 40 = 3.69 to about the unigram entropy, 1.7)
  std::vector<std::vector<Index>> corpus;
  for (Index s = 0; s < 200; ++s) {
    std::vector<Index> seq{2};
    for (Index t = 0; t < 8; ++t) seq.push_back((7 * s + 3 * t) % 10 < 7 ? 5 : 6 + (s + t) % 34);
    seq.push_back(3);
    corpus.push_back(seq);
  }
  MaskingOptions options;
  options.probability = 0.25;
  const TokenMasker masker(40, mask_id, specials, options);
  elm::models::MaskedLmBatches batches(corpus, 16, masker, 0, 9);
  CHECK(batches.batch(3).labels == batches.batch(3).labels);
  CHECK(batches.batch(3).labels != batches.batch(4).labels);
  const auto first = batches.next();
  batches.seek(0);
  CHECK(batches.next().inputs.input_ids == first.inputs.input_ids);
  batches.seek(0);

  elm::Rng rng(1);
  BertForMaskedLM<float> model(config, rng);
  elm::nn::AdamW<float> optimizer({1e-2, 0.9, 0.999, 1e-8, 0.0});
  elm::train::TrainerOptions to;
  to.steps = 150;
  to.schedule = elm::nn::LrSchedule::constant(1e-2);
  elm::train::Trainer trainer(model, optimizer, batches, elm::models::masked_lm_step(model), to);
  const auto held_out = elm::models::masked_held_out(corpus, 50, masker, 0, 2);
  trainer.set_evaluation(held_out, elm::models::masked_lm_eval(model));
  const double before = trainer.evaluate().loss;
  const auto result = trainer.run();
  REQUIRE(!result.evaluations.empty());
  INFO("held-out masked-token loss " << before << " before, " << result.evaluations.back().loss << " after");
  CHECK(result.evaluations.back().loss < before - 1.0);
  elm::models::MaskedLmScore score;
  for (const auto& b : held_out) score += elm::models::masked_lm_score(model, b);
  CHECK(score.count > 0);
  CHECK(score.loss_sum / double(score.count) == Approx(result.evaluations.back().loss).epsilon(1e-9));
  CHECK(score.accuracy() > 0.5);  // chance among the 35 word tokens: 1/35
}

TEST_CASE("Masking and fill-mask refuse bad input with what is wrong", "[models][bert][masked_lm]") {
  MaskingOptions bad;
  bad.probability = 1.5;
  CHECK_THROWS_WITH(TokenMasker(V, mask_id, specials, bad), Contains("masking probability = 1.5"));
  bad = {};
  bad.mask_fraction = 0.95;
  CHECK_THROWS_WITH(TokenMasker(V, mask_id, specials, bad), Contains("sum <= 1"));
  CHECK_THROWS_WITH(TokenMasker(V, V, specials), Contains("mask id"));
  bad = {};
  bad.whole_word = true;
  CHECK_THROWS_WITH(TokenMasker(V, mask_id, specials, bad), Contains("continuation flags"));
  const TokenMasker masker(V, mask_id, specials);
  elm::Rng rng(1);
  CHECK_THROWS_AS(masker.mask(BertBatch{}, rng), elm::InvalidArgument);
  CHECK_THROWS_WITH(masker.mask(BertBatch{}, rng), Contains("a batch of zero sequences"));
  // a vocabulary without [MASK]
  const elm::text::WordPieceTokenizer no_mask(elm::text::Vocabulary({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "cat"}));
  CHECK(no_mask.mask_id() == -1);
  CHECK_THROWS_AS(TokenMasker::from_tokenizer(no_mask), elm::FormatError);
  CHECK_THROWS_WITH(TokenMasker::from_tokenizer(no_mask), Contains("no mask token '[MASK]'"));

  const auto model = elm::io::load_bert_hf<BertForMaskedLM<float>>(fixture_path("fill_tiny"));
  CHECK_THROWS_WITH(elm::models::fill_mask(model, BertBatch::pad({{2, 7, 3}}), mask_id),
                    Contains("sequence 0 has no mask token (id 4)"));
  CHECK_THROWS_WITH(elm::models::fill_mask(model, BertBatch::pad({{2, 4, 3}}), mask_id, 0), Contains("top_k = 0"));
  CHECK_THROWS_WITH(elm::models::fill_mask(model, BertBatch{}, mask_id), Contains("a batch of zero sequences"));
  // longer than the position table (20 positions)
  std::vector<Index> longer(25, 7);
  longer[3] = mask_id;
  CHECK_THROWS_AS(elm::models::fill_mask(model, BertBatch::pad({longer}), mask_id), elm::RangeError);
  CHECK_THROWS_WITH(elm::models::fill_mask(model, BertBatch::pad({longer}), mask_id),
                    Contains("exceeds max_position_embeddings = 20"));
  Matrix<float> logits;
  CHECK_THROWS_WITH(model.forward_at(BertBatch::pad({{2, 4, 3}}), {3}, logits), Contains("column"));
}

}  // namespace masked_lm_test
