// SPDX-License-Identifier: MIT
// elm-attention: trains one Transformer encoder block for a few seconds on a toy task over the words of a
// sentence, runs it on the sentence and draws each head's attention weights as an SVG heatmap.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include "common/svg_text.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/nn/attention.hpp"
#include "elm/nn/embedding.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adam.hpp"
#include "elm/nn/positional_encoding.hpp"
#include "elm/nn/transformer_block.hpp"

namespace {

using elm::Index;
using elm::Matrix;
using elm::examples::xml_escape;

/// Token embedding + sinusoidal positions -> one encoder block -> a linear read-out over the vocabulary.
struct Model : elm::nn::Composite<Model> {
  elm::nn::Embedding<float> embed;
  elm::nn::SinusoidalPositionalEncoding<float> positions;
  elm::nn::TransformerEncoderLayer<float> block;
  elm::nn::Linear<float> head;

  Model(Index vocab, Index length, const elm::nn::TransformerConfig& config, elm::Rng& rng)
      : embed(vocab, config.width, rng),
        positions(config.width, length),
        block(config),
        head(config.width, vocab, rng) {
    block.reset_parameters(rng);
  }

  // The parameters in order, for Composite's for_each_parameter (mutable and const): Self is Model, const or not.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.embed.for_each_parameter(elm::nn::join_name(prefix, "embed"), f);
    self.block.for_each_parameter(elm::nn::join_name(prefix, "block"), f);
    self.head.for_each_parameter(elm::nn::join_name(prefix, "head"), f);
  }
};

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

/// The target of position t: the word before it (its own at t = 0), or the word at the mirrored position.
std::vector<Index> targets_of(const std::vector<Index>& ids, Index batch, Index T, bool reverse) {
  std::vector<Index> out(ids.size());
  for (Index b = 0; b < batch; ++b)
    for (Index t = 0; t < T; ++t) {
      const Index src = reverse ? T - 1 - t : std::max<Index>(t - 1, 0);
      out[std::size_t(b * T + t)] = ids[std::size_t(b * T + src)];
    }
  return out;
}

/// One panel per head: rows are queries, columns keys, darker is more weight. weights: (T, H * T).
std::string heatmap_svg(const Matrix<float>& weights, const std::vector<std::string>& words, Index heads,
                        const std::string& title) {
  const Index T = Index(words.size());
  const int cell = 24, margin = 90, gap = 30, top = 40;
  const int panel = margin + int(T) * cell;
  const int columns = int(std::min<Index>(heads, 2));
  const int rows = int((heads + columns - 1) / columns);
  const int width = columns * panel + (columns - 1) * gap + 20;
  const int height = top + rows * (panel + gap) + 10;
  fmt::memory_buffer svg;
  auto out = std::back_inserter(svg);
  fmt::format_to(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\">\n",
                 width, height);
  fmt::format_to(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  fmt::format_to(out, "<text x=\"10\" y=\"22\" font-size=\"15\">{}</text>\n", xml_escape(title));
  for (Index h = 0; h < heads; ++h) {
    const int x0 = int(h % columns) * (panel + gap) + 10, y0 = top + int(h / columns) * (panel + gap);
    fmt::format_to(out, "<g transform=\"translate({},{})\">\n", x0, y0);
    fmt::format_to(out, "<text x=\"{}\" y=\"12\" font-size=\"13\" font-weight=\"bold\">head {}</text>\n", margin, h);
    for (Index j = 0; j < T; ++j) {  // keys along the top, slanted
      const int cx = margin + int(j) * cell + cell / 2;
      fmt::format_to(out, "<text x=\"{}\" y=\"{}\" font-size=\"10\" transform=\"rotate(-50 {} {})\">{}</text>\n", cx,
                     margin - 6, cx, margin - 6, xml_escape(words[std::size_t(j)]));
    }
    for (Index i = 0; i < T; ++i) {
      const int cy = margin + int(i) * cell;
      fmt::format_to(out, "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>\n", margin - 4,
                     cy + cell / 2 + 4, xml_escape(words[std::size_t(i)]));
      for (Index j = 0; j < T; ++j) {
        const float w = weights(j, h * T + i);
        // white (no weight) to dark blue (all of it)
        const int r = int(255 - w * (255 - 8)), g = int(255 - w * (255 - 48)), b = int(255 - w * (255 - 107));
        fmt::format_to(out,
                       "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"rgb({},{},{})\" stroke=\"#ddd\">"
                       "<title>{} -> {}: {:.3f}</title></rect>\n",
                       margin + int(j) * cell, cy, cell, cell, r, g, b, xml_escape(words[std::size_t(i)]),
                       xml_escape(words[std::size_t(j)]), w);
      }
    }
    fmt::format_to(out, "</g>\n");
  }
  fmt::format_to(out, "</svg>\n");
  return fmt::to_string(svg);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train one Transformer encoder block on a toy task over a sentence's words, then draw each head's "
               "attention on the sentence as an SVG heatmap (one panel per head)."};
  std::string sentence = "the cat sat on the mat and the dog sat on the log";
  std::string task = "previous";
  std::string out_path = "attention.svg";
  Index heads = 4, width = 32, steps = 300, batch = 16;
  std::uint64_t seed = 1;
  app.add_option("--sentence", sentence, "words separated by spaces")->capture_default_str();
  app.add_option("--task", task, "previous: predict the word before (causal); reverse: the mirrored word")
      ->check(CLI::IsMember({"previous", "reverse"}))
      ->capture_default_str();
  app.add_option("--heads", heads, "attention heads H")->capture_default_str();
  app.add_option("--width", width, "model width C (a multiple of H)")->capture_default_str();
  app.add_option("--steps", steps, "Adam steps on random word sequences")->capture_default_str();
  app.add_option("--batch", batch, "sequences per step")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--out", out_path, "SVG file to write")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<std::string> words = split_words(sentence);
    ELM_EXPECT(words.size() >= 2, elm::InvalidArgument, "elm-attention: --sentence needs at least two words, got ",
               words.size());
    ELM_EXPECT(steps >= 0 && batch > 0, elm::InvalidArgument, "elm-attention: expected --steps >= 0 and --batch > 0");
    std::map<std::string, Index> vocab;
    std::vector<std::string> by_id;
    std::vector<Index> sentence_ids;
    for (const auto& w : words) {
      auto [it, added] = vocab.emplace(w, Index(by_id.size()));
      if (added) by_id.push_back(w);
      sentence_ids.push_back(it->second);
    }
    const Index V = Index(by_id.size()), T = Index(words.size());
    const bool reverse = task == "reverse";

    elm::nn::TransformerConfig config;
    config.width = width;
    config.heads = heads;
    config.intermediate = 2 * width;
    config.layers = 1;
    config.dropout = 0.0;
    config.max_positions = T;
    elm::Rng rng(seed);
    Model model(V, T, config, rng);
    elm::nn::Adam<float> adam(elm::nn::AdamOptions{3e-3});
    elm::nn::AttentionMask<float> mask;
    mask.causal = !reverse;

    auto forward = [&](const std::vector<Index>& ids, Index b, Matrix<float>& x, Matrix<float>& logits,
                       elm::nn::Embedding<float>::Cache* ec, elm::nn::TransformerEncoderLayer<float>::Cache* bc,
                       elm::nn::Linear<float>::Cache* hc) {
      Matrix<float> e, h;
      model.embed.forward(ids, e, ec);
      model.positions.forward(e, b, 0, x);
      model.block.forward(x, b, mask, h, bc);
      model.head.forward(h, logits, hc);
    };

    // 1) training on random sequences of the sentence's words
    float first_loss = 0.0f, last_loss = 0.0f;
    std::vector<Index> ids(std::size_t(batch * T));
    for (Index step = 0; step < steps; ++step) {
      for (auto& id : ids) id = Index(rng.below(std::uint64_t(V)));
      const std::vector<Index> targets = targets_of(ids, batch, T, reverse);
      elm::nn::Embedding<float>::Cache ec;
      elm::nn::TransformerEncoderLayer<float>::Cache bc;
      elm::nn::Linear<float>::Cache hc;
      Matrix<float> x, logits, dlogits, dh, dx;
      forward(ids, batch, x, logits, &ec, &bc, &hc);
      const float loss = elm::nn::cross_entropy<float>(logits, targets, {}, &dlogits);
      if (step == 0) first_loss = loss;
      last_loss = loss;
      elm::nn::zero_grad(model);
      model.head.backward(hc, dlogits, dh);
      model.block.backward(bc, dh, dx);
      model.embed.backward(ec, dx);  // the sinusoidal encoding has no parameters: dx reaches the embedding as is
      adam.step(model);
    }

    // 2) the sentence itself: predictions and the attention weights of every head
    Matrix<float> x, logits;
    forward(sentence_ids, 1, x, logits, nullptr, nullptr, nullptr);
    const std::vector<Index> targets = targets_of(sentence_ids, 1, T, reverse);
    Index correct = 0;
    for (Index t = 0; t < T; ++t) {
      Index best = 0;
      logits.col(t).maxCoeff(&best);
      correct += best == targets[std::size_t(t)];
    }
    Matrix<float> weights, attn_out;
    elm::nn::MultiHeadAttention<float>::ForwardOptions options;
    options.weights = &weights;
    options.average_weights = false;
    model.block.self_attn().forward(x, 1, mask, attn_out, nullptr, {}, options);  // post-norm: attention sees x

    fmt::print("task {} on {} words, V = {}, C = {}, H = {}: loss {:.3f} -> {:.3f} after {} steps\n", task, T, V,
               width, heads, first_loss, last_loss, steps);
    fmt::print("sentence accuracy {}/{}\n", correct, T);
    for (Index h = 0; h < heads; ++h) {
      std::string line;
      for (Index i = 0; i < T; ++i) {
        Index j = 0;
        weights.col(h * T + i).maxCoeff(&j);
        line += fmt::format(" {}>{}", i, j);
      }
      fmt::print("head {} strongest key per query:{}\n", h, line);
    }
    const std::string title = fmt::format("elm-attention: {} task, {} heads, after {} steps (rows: queries, columns: keys)",
                                          task, heads, steps);
    elm::io::write_text_atomically(out_path, heatmap_svg(weights, words, heads, title));
    fmt::print("wrote {}\n", out_path);
    return 0;
  } catch (const std::exception& e) {  // elm::Error or any other: a message and status 1
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
