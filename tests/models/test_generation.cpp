// SPDX-License-Identifier: MIT
// Generation (models/generation.hpp) against Hugging Face transformers: the logits processors against its own
// classes, a left-padded batch's logits and greedy continuations against GPT2LMHeadModel and its generate;
// batched generation equal to one prompt at a time, KV-cached decoding equal to the full forward, stop tokens and
// strings, the streamed tokens, bad options; GPT-2's tokenizer read from a model directory.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "../attention/fixture.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/models/generation.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/text/utf8.hpp"

using attention_test::Fixture;
using attention_test::load_fixture;
using attention_test::relative_error;
using Catch::Matchers::Contains;
using elm::Index;
using elm::Matrix;
using elm::Vector;
using elm::models::FinishReason;
using elm::models::GeneratedSequence;
using elm::models::GenerationCallbacks;
using elm::models::GenerationConfig;
using elm::models::Gpt2;

namespace generation_test {

std::string gpt2_dir(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/gpt2/" + name; }

std::vector<Index> token_ids(const Matrix<double>& m) {
  std::vector<Index> ids(static_cast<std::size_t>(m.size()));
  for (Index i = 0; i < m.size(); ++i) ids[static_cast<std::size_t>(i)] = static_cast<Index>(m.data()[i]);
  return ids;
}

// The fixture's left-padded batch: its rows without the padding, as prompts.
struct PaddedBatch {
  Index B = 0, T = 0;
  std::vector<Index> ids, positions;  // (B, T) batch-major, padding included
  Matrix<double> attention;           // (T, B): 1 where a real token is
  std::vector<std::vector<Index>> prompts;
};

PaddedBatch padded_batch(const Fixture& f) {
  PaddedBatch p;
  p.attention = f.matrix<double>("padded_attention_mask");
  p.T = p.attention.rows();
  p.B = p.attention.cols();
  p.ids = token_ids(f.matrix<double>("padded_ids"));
  p.positions = token_ids(f.matrix<double>("padded_position_ids"));
  for (Index b = 0; b < p.B; ++b) {
    std::vector<Index> prompt;
    for (Index t = 0; t < p.T; ++t)
      if (p.attention(t, b) != 0.0) prompt.push_back(p.ids[static_cast<std::size_t>(b * p.T + t)]);
    p.prompts.push_back(prompt);
  }
  return p;
}

// Hugging Face's mask for the padding: the lowest finite score on padded keys, (T, B).
template <typename Scalar>
elm::nn::AttentionMask<Scalar> padding_mask(const Matrix<double>& attention) {
  elm::nn::AttentionMask<Scalar> mask;
  mask.key_padding_additive.setZero(attention.rows(), attention.cols());
  for (Index i = 0; i < attention.size(); ++i)
    if (attention.data()[i] == 0.0) mask.key_padding_additive.data()[i] = std::numeric_limits<Scalar>::lowest();
  return mask;
}

// A decode function for the tests' small vocabularies: token id i is the letter 'a' + i % 26.
std::string letters(const std::vector<Index>& ids) {
  std::string s;
  for (Index id : ids) s += static_cast<char>('a' + id % 26);
  return s;
}

GenerationConfig sampling(Index max_new_tokens, Index R, std::uint64_t seed) {
  GenerationConfig c;
  c.do_sample = true;
  c.max_new_tokens = max_new_tokens;
  c.num_return_sequences = R;
  c.seed = seed;
  c.temperature = 0.9;
  c.top_k = 20;
  c.top_p = 0.95;
  c.repetition_penalty = 1.5;
  return c;
}

// The tiny fixture model with its token, position and attention weights scaled up: its random initialisation
// (N(0, 0.02^2)) gives nearly flat logits and repetitive continuations, where a wrong position or a visible pad
// token would rarely change a token; scaled, the logits spread over several units, and with a repetition
// penalty the continuations vary.
template <typename Scalar>
Gpt2<Scalar> sharpened_tiny() {
  Gpt2<Scalar> model = elm::io::load_gpt2_hf<Scalar>(gpt2_dir("tiny"));
  model.for_each_parameter("", [](const std::string& name, elm::nn::Parameter<Scalar>& p) {
    if (name == "wte.weight" || name == "wpe.weight") p.value *= Scalar(10);
    if (name.find("c_attn.weight") != std::string::npos || name.find("mlp.c_") != std::string::npos)
      p.value *= Scalar(5);
  });
  return model;
}

}  // namespace generation_test

using generation_test::gpt2_dir;
using generation_test::token_ids;
using generation_test::letters;
using generation_test::padded_batch;
using generation_test::PaddedBatch;
using generation_test::padding_mask;
using generation_test::sampling;
using generation_test::sharpened_tiny;

TEMPLATE_TEST_CASE("The logits processors give Hugging Face's processed scores, in its order",
                   "[models][generation][parity]", float, double) {
  const Fixture f = load_fixture("processors", "generation");
  for (const auto& c : f.meta.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    INFO("case " << name);
    GenerationConfig config;
    config.do_sample = c.at("do_sample").get<bool>();
    config.repetition_penalty = c.at("repetition_penalty").get<double>();
    config.temperature = c.at("temperature").get<double>();
    config.top_k = c.at("top_k").get<Index>();
    config.top_p = c.at("top_p").get<double>();
    const Matrix<TestType> scores = f.matrix<double>(name + ".scores").template cast<TestType>();
    const Matrix<double> past = f.matrix<double>(name + ".past_ids");
    const Matrix<double> expected = f.matrix<double>(name + ".out");
    elm::models::LogitsProcessor<TestType> processor(config, scores.rows());
    Matrix<TestType> got = scores;
    for (Index b = 0; b < got.cols(); ++b) processor.process(got.col(b), token_ids(past.col(b)));
    // the removed tokens exactly, the others to float32's rounding (the reference computed in float32)
    for (Index i = 0; i < got.size(); ++i) {
      const bool removed = expected.data()[i] == -std::numeric_limits<double>::infinity();
      REQUIRE((got.data()[i] == -std::numeric_limits<TestType>::infinity()) == removed);
      if (!removed) REQUIRE(std::abs(double(got.data()[i]) - expected.data()[i]) <= 1e-6 * (1 + std::abs(expected.data()[i])));
    }
  }
}

TEST_CASE("Sampling draws each token with its softmax probability; greedy takes the first highest",
          "[models][generation][sampling]") {
  GenerationConfig config;
  config.do_sample = true;
  config.top_k = 3;
  elm::models::LogitsProcessor<double> processor(config, 5);
  Vector<double> scores(5);
  scores << 1.0, -0.5, 2.0, 0.25, 1.0;
  processor.process(scores, {});
  CHECK(scores(1) == -std::numeric_limits<double>::infinity());  // 4th and 5th of 5: 1.0 ties stay, -0.5 and 0.25 go
  CHECK(scores(3) == -std::numeric_limits<double>::infinity());
  elm::Rng rng(3);
  std::vector<int> counts(5, 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[static_cast<std::size_t>(processor.next_token(scores, rng))];
  const double z = 2 * std::exp(1.0) + std::exp(2.0);
  CHECK(counts[1] == 0);
  CHECK(counts[3] == 0);
  for (int i : {0, 2, 4}) {
    const double p = std::exp(scores(i)) / z;
    // four standard deviations of a binomial frequency
    CHECK(std::abs(counts[static_cast<std::size_t>(i)] / double(n) - p) < 4 * std::sqrt(p * (1 - p) / n));
  }
  elm::models::LogitsProcessor<double> greedy(GenerationConfig{}, 5);
  CHECK(greedy.next_token(scores, rng) == 2);
  scores(2) = 1.0;
  CHECK(greedy.next_token(scores, rng) == 0);  // ties: the first, as torch.argmax
}

TEMPLATE_TEST_CASE("A left-padded batch gives transformers' logits, through the full forward and the KV caches",
                   "[models][generation][parity]", float, double) {
  const std::string name = GENERATE(as<std::string>{}, "tiny", "tiny_gelu");
  const Fixture f = load_fixture(name, "gpt2");
  const Gpt2<TestType> model = elm::io::load_gpt2_hf<TestType>(gpt2_dir(name));
  const PaddedBatch p = padded_batch(f);
  const Matrix<double> expected = f.matrix<double>("padded_logits");
  const auto mask = padding_mask<TestType>(p.attention);
  Matrix<TestType> full, cached;
  model.forward(p.ids, p.B, p.positions, mask, full);
  auto kv = model.make_kv_caches(p.B, p.T);
  model.forward_incremental(p.ids, p.positions, mask, kv, cached);
  // the real positions only: a padding position's logits mean nothing
  const double tol = std::is_same_v<TestType, float> ? 1e-5 : 1e-12;
  for (Index col = 0; col < expected.cols(); ++col) {
    if (p.attention.data()[col] == 0.0) continue;
    INFO("column " << col);
    CHECK(relative_error<TestType>("logits", full.col(col), expected.col(col)) < tol);
    CHECK(relative_error<TestType>("cached logits", cached.col(col), expected.col(col)) < tol);
  }
  // the last positions only: the same columns
  Matrix<TestType> last;
  auto kv2 = model.make_kv_caches(p.B, p.T);
  model.forward_incremental(p.ids, p.positions, mask, kv2, last, elm::models::LogitPositions::last);
  REQUIRE(last.cols() == p.B);
  for (Index b = 0; b < p.B; ++b)
    CHECK(relative_error<TestType>("last logits", last.col(b), cached.col(b * p.T + p.T - 1).template cast<double>()) < tol);
}

TEST_CASE("GPT-2 with each token's position given is the default forward and backward when they count from 0",
          "[models][generation][positions]") {
  Gpt2<double> a = elm::io::load_gpt2_hf<double>(gpt2_dir("tiny")), b = elm::io::load_gpt2_hf<double>(gpt2_dir("tiny"));
  const std::vector<Index> ids{3, 1, 4, 1, 5, 9, 2, 6};  // B = 2, T = 4
  typename Gpt2<double>::Cache ca, cb;
  Matrix<double> la, lb;
  a.forward(ids, 2, {}, la, &ca);
  b.forward(ids, 2, {0, 1, 2, 3, 0, 1, 2, 3}, {}, lb, &cb);
  CHECK(la == lb);
  a.zero_grad();
  b.zero_grad();
  a.backward(ca, la);
  b.backward(cb, lb);
  std::vector<Matrix<double>> grads;
  a.for_each_parameter("", [&](const std::string&, const elm::nn::Parameter<double>& p) { grads.push_back(p.grad); });
  std::size_t i = 0;
  b.for_each_parameter("", [&](const std::string& name, const elm::nn::Parameter<double>& p) {
    INFO(name);
    CHECK(p.grad == grads[i++]);
  });
}

TEST_CASE("Greedy generation of a left-padded batch is transformers' generate(do_sample=False)",
          "[models][generation][parity]") {
  const std::string name = GENERATE(as<std::string>{}, "tiny", "tiny_gelu");
  const Fixture f = load_fixture(name, "gpt2");
  const PaddedBatch p = padded_batch(f);
  const Matrix<double> hf = f.matrix<double>("padded_greedy");  // (new tokens, B)
  const Index eos = f.dim("eos");
  GenerationConfig config;
  config.max_new_tokens = hf.rows();
  config.eos_token_ids = {eos};
  const auto check = [&](const auto& model) {
    const std::vector<GeneratedSequence> got = elm::models::generate_batch(model, p.prompts, config);
    REQUIRE(Index(got.size()) == p.B);
    for (Index b = 0; b < p.B; ++b) {
      // generate pads a row that ended with eos: ours ends there
      std::vector<Index> expected = token_ids(hf.col(b));
      const auto end = std::find(expected.begin(), expected.end(), eos);
      const bool ended = end != expected.end();
      expected.erase(ended ? end + 1 : end, expected.end());
      INFO("row " << b);
      CHECK(got[std::size_t(b)].ids == expected);
      CHECK(got[std::size_t(b)].prompt == b);
      CHECK(got[std::size_t(b)].finish == (ended ? FinishReason::eos : FinishReason::length));
    }
  };
  check(elm::io::load_gpt2_hf<double>(gpt2_dir(name)));
  check(elm::io::load_gpt2_hf<float>(gpt2_dir(name)));
}

TEST_CASE("A KV-cached decode of a left-padded batch equals the full forward at every step",
          "[models][generation][kv-cache]") {
  const Fixture f = load_fixture("tiny_gelu", "gpt2");
  const Gpt2<double> model = elm::io::load_gpt2_hf<double>(gpt2_dir("tiny_gelu"));
  PaddedBatch p = padded_batch(f);
  auto kv = model.make_kv_caches(p.B, p.T + 6);
  Matrix<double> logits, full;
  model.forward_incremental(p.ids, p.positions, padding_mask<double>(p.attention), kv, logits,
                            elm::models::LogitPositions::last);
  std::vector<std::vector<Index>> rows(std::size_t(p.B)), pos(std::size_t(p.B));
  Matrix<double> attention = p.attention;
  for (Index b = 0; b < p.B; ++b)
    for (Index t = 0; t < p.T; ++t) {
      rows[std::size_t(b)].push_back(p.ids[std::size_t(b * p.T + t)]);
      pos[std::size_t(b)].push_back(p.positions[std::size_t(b * p.T + t)]);
    }
  elm::Rng rng(11);
  for (Index step = 0; step < 6; ++step) {
    std::vector<Index> next, next_pos;
    for (Index b = 0; b < p.B; ++b) {
      next.push_back(Index(rng.below(50)));  // any tokens: the caches must follow whatever is fed
      next_pos.push_back(pos[std::size_t(b)].back() + 1);
      rows[std::size_t(b)].push_back(next.back());
      pos[std::size_t(b)].push_back(next_pos.back());
    }
    attention.conservativeResize(attention.rows() + 1, Eigen::NoChange);
    attention.row(attention.rows() - 1).setOnes();
    const auto mask = padding_mask<double>(attention);
    model.forward_incremental(next, next_pos, mask, kv, logits, elm::models::LogitPositions::last);
    std::vector<Index> all, all_pos;
    for (Index b = 0; b < p.B; ++b) {
      all.insert(all.end(), rows[std::size_t(b)].begin(), rows[std::size_t(b)].end());
      all_pos.insert(all_pos.end(), pos[std::size_t(b)].begin(), pos[std::size_t(b)].end());
    }
    model.forward(all, p.B, all_pos, mask, full);
    const Index T = attention.rows();
    for (Index b = 0; b < p.B; ++b) {
      INFO("step " << step << ", row " << b);
      CHECK((logits.col(b) - full.col(b * T + T - 1)).cwiseAbs().maxCoeff() < 1e-12);
    }
  }
}

TEST_CASE("Batched generation equals generating each prompt on its own, greedy and sampled with a seed",
          "[models][generation][batch]") {
  const Fixture f = load_fixture("tiny", "gpt2");
  const Gpt2<double> model = sharpened_tiny<double>();
  const PaddedBatch p = padded_batch(f);
  std::vector<std::vector<Index>> prompts = p.prompts;
  prompts.push_back({7});  // and a one-token prompt
  const auto same = [](const std::vector<GeneratedSequence>& a, const std::vector<GeneratedSequence>& b) {
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].ids == b[i].ids);
      CHECK(a[i].finish == b[i].finish);
    }
  };
  for (const bool sample : {false, true}) {
    INFO((sample ? "sampled" : "greedy"));
    GenerationConfig config = sample ? sampling(10, 3, 42) : GenerationConfig{};
    config.max_new_tokens = 10;
    config.repetition_penalty = 3.0;
    config.eos_token_ids = {f.dim("eos")};
    const auto batched = elm::models::generate_batch(model, prompts, config);
    REQUIRE(batched.size() == prompts.size() * std::size_t(config.num_return_sequences));
    for (const auto& seq : batched) {  // continuations that vary, so that a wrong position or mask shows
      std::vector<Index> distinct = seq.ids;
      std::sort(distinct.begin(), distinct.end());
      INFO("a continuation of prompt " << seq.prompt << ": " << letters(seq.ids));
      if (seq.finish == FinishReason::length) CHECK(std::unique(distinct.begin(), distinct.end()) - distinct.begin() >= 6);
    }
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const auto alone = elm::models::generate(model, prompts[i], config);
      const std::size_t R = std::size_t(config.num_return_sequences);
      same(alone, std::vector<GeneratedSequence>(batched.begin() + std::ptrdiff_t(i * R),
                                                 batched.begin() + std::ptrdiff_t((i + 1) * R)));
      for (std::size_t r = 0; r < R; ++r) CHECK(batched[i * R + r].prompt == Index(i));
    }
    if (sample) {
      // the return sequences differ from each other, and another seed gives other draws
      CHECK((batched[0].ids != batched[1].ids || batched[1].ids != batched[2].ids));
      config.seed = 43;
      const auto other = elm::models::generate_batch(model, prompts, config);
      bool differs = false;
      for (std::size_t i = 0; i < other.size(); ++i) differs = differs || other[i].ids != batched[i].ids;
      CHECK(differs);
      config.seed = 42;
      same(elm::models::generate_batch(model, prompts, config), batched);  // and the same seed the same
    }
  }
}

TEST_CASE("Sliding past the context predicts each token from the sequence's last n_positions tokens",
          "[models][generation][slide]") {
  const Fixture f = load_fixture("tiny", "gpt2");
  const Gpt2<double> model = sharpened_tiny<double>();  // V = 40, context 24
  const Index P = model.max_positions(), V = model.vocab_size();
  REQUIRE(P == 24);
  // The reference: nanoGPT's sampler written out, a full forward of the last P tokens (from position 0) for each
  // token, through the same processors and the same random stream as generate's return sequence 0.
  const auto reference = [&](std::vector<Index> seq, const GenerationConfig& config) {
    elm::models::LogitsProcessor<double> processor(config, V);
    elm::Rng stream = elm::Rng(config.seed).split();
    std::vector<Index> out;
    Matrix<double> logits;
    Vector<double> scores;
    for (Index n = 0; n < config.max_new_tokens; ++n) {
      const std::vector<Index> window(seq.end() - std::min<Index>(P, Index(seq.size())), seq.end());
      model.forward(window, 1, elm::nn::AttentionMask<double>{}, logits);
      scores = logits.col(logits.cols() - 1);
      processor.process(scores, seq);
      out.push_back(processor.next_token(scores, stream));
      seq.push_back(out.back());
    }
    return out;
  };
  std::vector<Index> long_prompt(30);  // longer than the context: its last 24 tokens are the window
  for (std::size_t i = 0; i < long_prompt.size(); ++i) long_prompt[i] = Index(i * 7 % 40);
  for (const bool sample : {false, true}) {
    INFO((sample ? "sampled" : "greedy"));
    GenerationConfig config = sample ? sampling(60, 1, 5) : GenerationConfig{};
    config.max_new_tokens = 60;  // 2.5 contexts
    config.repetition_penalty = 3.0;
    config.prompt_overflow = elm::models::PromptOverflow::slide;
    for (const auto& prompt : {std::vector<Index>{3, 9, 1, 20, 4}, long_prompt}) {
      const auto got = elm::models::generate(model, prompt, config);
      REQUIRE(got.size() == 1);
      CHECK(got[0].finish == FinishReason::length);
      CHECK(got[0].ids == reference(prompt, config));
      std::vector<Index> distinct = got[0].ids;  // a continuation that varies, so that a wrong window shows
      std::sort(distinct.begin(), distinct.end());
      if (sample) CHECK(std::unique(distinct.begin(), distinct.end()) - distinct.begin() >= 8);
    }
    // while the sequence fits in the context, sliding is the KV-cached decoding itself
    GenerationConfig fits = config;
    fits.max_new_tokens = 15;
    GenerationConfig refuse = fits;
    refuse.prompt_overflow = elm::models::PromptOverflow::refuse;
    CHECK(elm::models::generate(model, {3, 9, 1, 20, 4}, fits).front().ids ==
          elm::models::generate(model, {3, 9, 1, 20, 4}, refuse).front().ids);
    // a batch of prompts of different lengths (rows that fill the context at different steps, one at once)
    // equals each prompt on its own, and an end-of-sequence token still ends a row
    std::vector<std::vector<Index>> prompts = padded_batch(f).prompts;
    prompts.push_back({7});
    prompts.push_back(long_prompt);
    config.num_return_sequences = sample ? 2 : 1;
    config.eos_token_ids = {f.dim("eos")};
    const auto batched = elm::models::generate_batch(model, prompts, config);
    const std::size_t R = std::size_t(config.num_return_sequences);
    REQUIRE(batched.size() == prompts.size() * R);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const auto alone = elm::models::generate(model, prompts[i], config);
      for (std::size_t r = 0; r < R; ++r) {
        INFO("prompt " << i << ", sequence " << r << ": " << letters(alone[r].ids));
        CHECK(batched[i * R + r].ids == alone[r].ids);
        CHECK(batched[i * R + r].finish == alone[r].finish);
      }
    }
  }
}

namespace generation_test {

// Characters split across tokens: each token gives the last byte of one two-byte character (0x80 + id % 64) and the
// first byte (0xC3) of the next, so the character a token completes began in the token before.
std::string split_characters(const std::vector<Index>& ids) {
  std::string s;
  for (Index id : ids) s += std::string{static_cast<char>(0x80 + id % 64), static_cast<char>(0xC3)};
  return s;
}

// The same text with each invalid UTF-8 sequence (the first token's lone continuation byte, the last token's
// unfinished character) shown as U+FFFD, as Hugging Face's decode(errors="replace") shows them.
std::string split_characters_replaced(const std::vector<Index>& ids) {
  const std::string bytes = split_characters(ids);
  std::string s;
  for (std::size_t pos = 0; pos < bytes.size();) {
    const auto d = elm::text::decode_code_point(bytes, pos);
    s += d.length == 0 ? std::string("\xEF\xBF\xBD") : bytes.substr(pos, d.length);
    pos += std::max<std::size_t>(d.length, 1);
  }
  return s;
}

}  // namespace generation_test

TEST_CASE("A stop string split over several tokens, and characters split across tokens, ends the sequence at the "
          "token that completes it, deep into a long sequence", "[models][generation][stop]") {
  using Decode = std::string (*)(const std::vector<Index>&);
  const Gpt2<double> model = sharpened_tiny<double>();  // context 24: sliding past it
  const std::vector<Index> prompt{3, 12, 34, 37};
  GenerationConfig config = sampling(60, 1, 11);
  config.prompt_overflow = elm::models::PromptOverflow::slide;
  const std::vector<Index> free_run = elm::models::generate(model, prompt, config).front().ids;
  REQUIRE(free_run.size() == 60);
  // the definition: the sequence ends at the first token whose whole new text contains a stop string
  const auto first_stop = [&](Decode decode, const std::vector<std::string>& stops) {
    for (std::size_t n = 1; n <= free_run.size(); ++n) {
      const std::string text = decode(std::vector<Index>(free_run.begin(), free_run.begin() + std::ptrdiff_t(n)));
      for (const std::string& s : stops)
        if (text.find(s) != std::string::npos) return n;
    }
    return std::size_t(0);
  };
  const auto last_bytes = [](const std::string& text, std::size_t n) { return text.substr(text.size() - n); };
  struct Case {
    Decode decode;
    std::vector<std::string> stops;
  };
  const std::vector<Index> t38_to_50(free_run.begin() + 38, free_run.begin() + 50);
  const std::vector<Case> cases = {
      // five one-letter tokens, far past the window a stop string of 5 letters keeps
      {generation_test::letters, {letters(std::vector<Index>(free_run.begin() + 45, free_run.begin() + 50))}},
      // four two-byte characters over five tokens (43's second byte to 47's first), raw bytes or shown as UTF-8
      {generation_test::split_characters,
       {last_bytes(generation_test::split_characters(std::vector<Index>(free_run.begin() + 43, free_run.begin() + 48)),
                   8)}},
      {generation_test::split_characters_replaced,
       {last_bytes(generation_test::split_characters(std::vector<Index>(free_run.begin() + 43, free_run.begin() + 48)),
                   8)}},
      // a longer stop string beside a short one that never occurs: the window holds the longest
      {generation_test::letters, {"!!", letters(t38_to_50)}},
  };
  for (std::size_t c = 0; c < cases.size(); ++c) {
    INFO("case " << c);
    const std::size_t expected = first_stop(cases[c].decode, cases[c].stops);
    REQUIRE(expected > 0);
    config.stop_strings = cases[c].stops;
    GenerationCallbacks callbacks;
    callbacks.decode = cases[c].decode;
    const auto stopped = elm::models::generate(model, prompt, config, callbacks).front();
    CHECK(stopped.ids == std::vector<Index>(free_run.begin(), free_run.begin() + std::ptrdiff_t(expected)));
    CHECK(stopped.finish == FinishReason::stop_string);
  }
}

TEST_CASE("A sequence ends at an end-of-sequence token or once its text holds a stop string",
          "[models][generation][stop]") {
  const Gpt2<double> model = sharpened_tiny<double>();
  const std::vector<Index> prompt{3, 12, 34, 37};
  GenerationConfig config = sampling(12, 1, 5);
  const std::vector<Index> free_run = elm::models::generate(model, prompt, config).front().ids;
  REQUIRE(free_run.size() == 12);
  // an eos id: the sequence ends at its first occurrence, the eos token included
  config.eos_token_ids = {free_run[7], free_run[4]};
  const auto first_eos = std::find_if(free_run.begin(), free_run.end(),
                                      [&](Index id) { return id == free_run[4] || id == free_run[7]; });
  const auto with_eos = elm::models::generate(model, prompt, config).front();
  CHECK(with_eos.ids == std::vector<Index>(free_run.begin(), first_eos + 1));
  CHECK(with_eos.finish == FinishReason::eos);
  // a stop string of tokens 5 and 6's text: the sequence ends at the token that completes its first occurrence
  config.eos_token_ids.clear();
  config.stop_strings = {"zzzz", letters({free_run[5], free_run[6]})};
  GenerationCallbacks callbacks;
  callbacks.decode = letters;
  const auto with_stop = elm::models::generate(model, prompt, config, callbacks).front();
  const std::string text = letters(free_run);
  const std::size_t at = text.find(config.stop_strings[1]);
  CHECK(with_stop.ids == std::vector<Index>(free_run.begin(), free_run.begin() + std::ptrdiff_t(at + 2)));
  CHECK(with_stop.finish == FinishReason::stop_string);
  // no stop: the whole length
  config.stop_strings = {"zzzzzzzzzzzzz"};
  const auto no_stop = elm::models::generate(model, prompt, config, callbacks).front();
  CHECK(no_stop.ids == free_run);
  CHECK(no_stop.finish == FinishReason::length);
}

TEST_CASE("The token callback sees every token of the result as it is produced, and can end a sequence",
          "[models][generation][stream]") {
  const Fixture f = load_fixture("tiny", "gpt2");
  const Gpt2<float> model = sharpened_tiny<float>();
  const PaddedBatch p = padded_batch(f);
  GenerationConfig config = sampling(9, 2, 8);
  config.eos_token_ids = {f.dim("eos")};
  std::vector<std::vector<Index>> streamed(p.prompts.size() * 2);
  GenerationCallbacks callbacks;
  callbacks.on_token = [&](Index sequence, Index token) {
    streamed[std::size_t(sequence)].push_back(token);
    return true;
  };
  const auto result = elm::models::generate_batch(model, p.prompts, config, callbacks);
  for (std::size_t s = 0; s < result.size(); ++s) CHECK(streamed[s] == result[s].ids);
  // returning false at a sequence's third token ends that sequence there; the others go on
  Index count = 0;
  callbacks.on_token = [&](Index sequence, Index) { return sequence != 1 || ++count < 3; };
  const auto stopped = elm::models::generate_batch(model, p.prompts, config, callbacks);
  CHECK(stopped[1].ids == std::vector<Index>(result[1].ids.begin(), result[1].ids.begin() + 3));
  CHECK(stopped[1].finish == FinishReason::callback);
  CHECK(stopped[0].ids == result[0].ids);
}

TEST_CASE("Generation refuses bad prompts and options with what and where", "[models][generation][bad-input]") {
  const Gpt2<float> model = sharpened_tiny<float>();  // V = 40, context 24
  GenerationConfig ok;
  ok.max_new_tokens = 4;
  const auto refuses = [&](const GenerationConfig& c, const std::vector<std::vector<Index>>& prompts,
                           const std::string& what, const GenerationCallbacks& callbacks = {}) {
    INFO(what);
    REQUIRE_THROWS_WITH(elm::models::generate_batch(model, prompts, c, callbacks), Contains(what));
  };
  REQUIRE_THROWS_AS(elm::models::generate(model, {1, 40}, ok), elm::RangeError);
  refuses(ok, {{1, 2}, {5, -1, 3}}, "prompt 1 has token id -1 at position 1, expected 0 <= id < V = 40");
  REQUIRE_THROWS_AS(elm::models::generate_batch(model, {{1}, {}}, ok), elm::InvalidArgument);
  refuses(ok, {{1}, {}}, "prompt 1 is empty");
  refuses(ok, {}, "no prompt");
  // the context: 21 prompt tokens + 4 new > 24 positions
  const std::vector<Index> long_prompt(21, 3);
  REQUIRE_THROWS_AS(elm::models::generate(model, long_prompt, ok), elm::RangeError);
  refuses(ok, {long_prompt}, "it needs 25 positions, but the context holds 24: expected at most 20 prompt tokens");
  GenerationConfig c = ok;
  c.max_new_tokens = 24;
  refuses(c, {{1}}, "max_new_tokens = 24 leaves no room for a prompt in the context of 24 positions");
  // ... or the prompt's last tokens, when asked
  c = ok;
  c.prompt_overflow = elm::models::PromptOverflow::truncate_left;
  std::vector<Index> varied(21);
  for (std::size_t i = 0; i < varied.size(); ++i) varied[i] = Index(i * 7 % 40);
  CHECK(elm::models::generate(model, varied, c).front().ids ==
        elm::models::generate(model, std::vector<Index>(varied.begin() + 1, varied.end()), ok).front().ids);
  // options
  c = ok;
  c.top_p = 0.0;
  refuses(c, {{1}}, "top_p = 0, expected 0 < top_p <= 1");
  c.top_p = 1.5;
  refuses(c, {{1}}, "top_p = 1.5, expected 0 < top_p <= 1");
  c = ok;
  c.do_sample = true;
  c.temperature = 0.0;
  refuses(c, {{1}}, "temperature = 0, expected > 0 when sampling");
  c.temperature = -1.0;
  refuses(c, {{1}}, "temperature = -1, expected > 0 when sampling");
  c = ok;
  c.temperature = 0.0;  // greedy decoding does not use the temperature
  CHECK(elm::models::generate(model, {1, 2}, c).front().ids.size() == 4);
  c = ok;
  c.top_k = -1;
  refuses(c, {{1}}, "top_k = -1, expected >= 0");
  c = ok;
  c.repetition_penalty = 0.0;
  refuses(c, {{1}}, "repetition_penalty = 0, expected > 0");
  c = ok;
  c.num_return_sequences = 0;
  refuses(c, {{1}}, "num_return_sequences = 0, expected >= 1");
  c.num_return_sequences = 2;
  refuses(c, {{1}}, "with greedy decoding, which gives one sequence per prompt");
  c = ok;
  c.max_new_tokens = -1;
  refuses(c, {{1}}, "max_new_tokens = -1, expected >= 0");
  c = ok;
  c.eos_token_ids = {40};
  refuses(c, {{1}}, "eos token id = 40 is out of range");
  c = ok;
  c.stop_strings = {"a"};
  refuses(c, {{1}}, "stop strings without a decode callback");
  c.stop_strings = {""};
  GenerationCallbacks callbacks;
  callbacks.decode = letters;
  refuses(c, {{1}}, "an empty stop string", callbacks);
  // no new tokens: empty sequences, the prompts still checked
  c = ok;
  c.max_new_tokens = 0;
  CHECK(elm::models::generate(model, {1, 2}, c).front().ids.empty());
  refuses(c, {{1, 99}}, "token id 99");
  // logits a processor cannot choose from
  elm::models::LogitsProcessor<float> processor(ok, 3);
  elm::Rng rng(1);
  Vector<float> bad(3);
  bad << 0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f;
  REQUIRE_THROWS_AS(processor.next_token(bad, rng), elm::NumericalError);
  bad.setConstant(-std::numeric_limits<float>::infinity());
  REQUIRE_THROWS_WITH(processor.next_token(bad, rng), Contains("every token's score is -inf"));
  Vector<float> four = Vector<float>::Zero(4);
  REQUIRE_THROWS_AS(processor.process(four, {}), elm::ShapeError);
  // the model's own checks: positions and masks of the batched paths
  Matrix<float> logits;
  REQUIRE_THROWS_WITH(model.forward({1, 2, 3}, 1, {0, 1}, {}, logits), Contains("expected one per id"));
  REQUIRE_THROWS_WITH(model.forward({1, 2, 3}, 1, {0, 1, 24}, {}, logits), Contains("position 24 is out of range"));
  auto kv = model.make_kv_caches(2, 8);
  elm::nn::AttentionMask<float> wrong;
  wrong.key_padding_additive.setZero(3, 2);  // 2 keys after the append, not 3
  REQUIRE_THROWS_AS(model.forward_incremental({1, 2}, {0, 0}, wrong, kv, logits), elm::ShapeError);
  CHECK(kv.front().length() == 0);  // unchanged
}

TEST_CASE("GPT-2's tokenizer comes from the model directory's vocab.json and merges.txt",
          "[models][generation][tokenizer]") {
  namespace fs = std::filesystem;
  const std::string data = std::string(ELM_SOURCE_DIR) + "/examples/data/gpt2";
  const elm::text::BpeTokenizer tokenizer = elm::io::load_gpt2_tokenizer(data);
  const elm::text::BpeTokenizer reference =
      elm::text::BpeTokenizer::from_files(data + "/vocab.json", data + "/merges.txt");
  const std::string text = "It is a truth universally acknowledged<|endoftext|> caf\xc3\xa9";
  CHECK(tokenizer.encode(text) == reference.encode(text));
  const Index eot = tokenizer.token_to_id("<|endoftext|>");
  const std::vector<Index> ids = tokenizer.encode("a<|endoftext|>b");
  CHECK(std::count(ids.begin(), ids.end(), eot) == 1);  // one special token, not its characters
  CHECK(tokenizer.decode(tokenizer.encode(text)) == text);
  // invalid UTF-8 in a prompt: where it is
  REQUIRE_THROWS_AS(tokenizer.encode("ok \xff"), elm::FormatError);
  REQUIRE_THROWS_WITH(tokenizer.encode("ok \xff"), Contains("UTF-8"));

  // files missing or malformed: the error names the file
  const fs::path dir = fs::temp_directory_path() / "elm_gpt2_tokenizer";
  fs::remove_all(dir);
  fs::create_directories(dir);
  REQUIRE_THROWS_AS(elm::io::load_gpt2_tokenizer(dir.string()), elm::IoError);
  REQUIRE_THROWS_WITH(elm::io::load_gpt2_tokenizer(dir.string()), Contains("has no vocab.json"));
  const auto write = [&](const std::string& file, const std::string& content) {
    std::ofstream(dir / file, std::ios::binary) << content;
  };
  fs::copy_file(data + "/vocab.json", dir / "vocab.json");
  REQUIRE_THROWS_WITH(elm::io::load_gpt2_tokenizer(dir.string()), Contains("has no merges.txt"));
  write("merges.txt", "#version: 0.2\n\xc4\xa0 t\nh e llo\n");
  REQUIRE_THROWS_AS(elm::io::load_gpt2_tokenizer(dir.string()), elm::FormatError);
  REQUIRE_THROWS_WITH(elm::io::load_gpt2_tokenizer(dir.string()),
                      Contains("merges.txt") && Contains("line 3") && Contains("expected two tokens"));
  write("merges.txt", "#version: 0.2\nqqq zzz\n");
  REQUIRE_THROWS_WITH(elm::io::load_gpt2_tokenizer(dir.string()),
                      Contains("merges.txt") && Contains("'qqq' is not in the vocabulary"));
  write("merges.txt", "#version: 0.2\n");
  write("vocab.json", "{\"a\": 0, ");
  REQUIRE_THROWS_AS(elm::io::load_gpt2_tokenizer(dir.string()), elm::FormatError);
  REQUIRE_THROWS_WITH(elm::io::load_gpt2_tokenizer(dir.string()), Contains("vocab.json"));
  // a byte-level vocabulary without GPT-2's end-of-text token
  {
    std::string vocab = "{";
    for (Index b = 0; b < 256; ++b)  // GPT-2's first 256 ids are its byte alphabet
      vocab += (b ? ", " : "") + nlohmann::json(reference.id_to_token(b)).dump() + ": " + std::to_string(b);
    write("vocab.json", vocab + "}");
  }
  REQUIRE_THROWS_WITH(elm::io::load_gpt2_tokenizer(dir.string()),
                      Contains("vocab.json") && Contains("has no token <|endoftext|>"));
  fs::remove_all(dir);
}
