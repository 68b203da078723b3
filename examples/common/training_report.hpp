// SPDX-License-Identifier: MIT
// What the training programs (elm-lstm-lm, elm-gpt, elm-bert) show of a run: a progress bar on standard error, the loss
// curve as CSV and as an SVG picture.
#pragma once

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "elm/train/trainer.hpp"

namespace elm::examples {

/// One line of progress on standard error, redrawn in place: bar, step, loss, rate, gradient norm, tokens/s,
/// and the held-out loss when the step evaluated (which ends the line so that it stays on screen).
inline void draw_progress(const train::Progress& p, bool final_line) {
  const int width = 30;
  const int filled = std::clamp(int(p.fraction * width + 0.5), 0, width);
  std::fprintf(stderr, "\r[%s%s] %3d%%  step %lld  loss %.3f  lr %.2e  |g| %.2f  %.0f tok/s  %.0fs ",
               std::string(std::size_t(filled), '#').c_str(), std::string(std::size_t(width - filled), '.').c_str(),
               int(p.fraction * 100 + 0.5), static_cast<long long>(p.step), p.loss, p.lr, p.grad_norm,
               p.tokens_per_second, p.seconds);
  if (p.eval_loss) std::fprintf(stderr, " held-out loss %.3f", *p.eval_loss);
  if (final_line || p.eval_loss) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

/// A trainer's progress callback that draws at most four times a second (and at every evaluation); finish()
/// draws the last step's line if it is not on screen yet.
class ProgressBar {
 public:
  explicit ProgressBar(bool quiet = false) : quiet_(quiet) {}

  void operator()(const train::Progress& p) {
    last_ = p;
    seen_ = true;
    on_screen_ = false;
    const auto now = std::chrono::steady_clock::now();
    if (!quiet_ && (p.eval_loss || now - last_draw_ > std::chrono::milliseconds(250))) {
      draw_progress(p, false);
      last_draw_ = now;
      on_screen_ = p.eval_loss.has_value();  // an evaluation ended its line
    }
  }

  void finish() const {
    if (!quiet_ && seen_ && !on_screen_) draw_progress(last_, true);
  }

 private:
  bool quiet_;
  bool seen_ = false, on_screen_ = false;
  train::Progress last_{};
  std::chrono::steady_clock::time_point last_draw_ = std::chrono::steady_clock::now() - std::chrono::seconds(1);
};

/// Runs a Trainer with a ProgressBar on standard error (none when quiet) and returns its result.
template <typename Trainer>
train::TrainResult run_with_progress_bar(Trainer& trainer, bool quiet) {
  ProgressBar bar(quiet);
  trainer.set_progress([&bar](const train::Progress& p) { bar(p); });
  train::TrainResult result = trainer.run();
  bar.finish();
  return result;
}

/// The loss of each step and the held-out loss where it was evaluated: "step,loss,held_out_loss".
inline std::string loss_csv(const train::TrainResult& result) {
  std::string csv = "step,loss,held_out_loss\n";
  auto e = result.evaluations.begin();
  for (std::size_t i = 0; i < result.losses.size(); ++i) {
    const std::int64_t step = result.first_step + std::int64_t(i) + 1;
    while (e != result.evaluations.end() && e->step < step) ++e;
    csv += fmt::format("{},{:.6f},", step, result.losses[i]);
    if (e != result.evaluations.end() && e->step == step) csv += fmt::format("{:.6f}", e->loss);
    csv += '\n';
  }
  return csv;
}

/// The loss per step (thin), its exponential moving average (thick) and the held-out losses (dots), as a
/// standalone SVG; `y_label` names the loss and its unit.
inline std::string loss_svg(const train::TrainResult& result, const std::string& title,
                            const std::string& y_label = "cross-entropy (nats/token)") {
  const std::vector<double>& losses = result.losses;
  const double w = 720, h = 360, left = 60, right = 20, top = 40, bottom = 50;
  double lo = losses.empty() ? 0 : *std::min_element(losses.begin(), losses.end());
  double hi = losses.empty() ? 1 : *std::max_element(losses.begin(), losses.end());
  for (const auto& e : result.evaluations) {
    lo = std::min(lo, e.loss);
    hi = std::max(hi, e.loss);
  }
  lo = std::floor(lo);
  hi = std::ceil(hi);
  if (hi <= lo) hi = lo + 1;
  const double n = std::max<double>(1.0, double(losses.size()) - 1.0);
  auto px = [&](double i) { return left + (w - left - right) * i / n; };
  auto py = [&](double v) { return top + (h - top - bottom) * (hi - v) / (hi - lo); };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" font-size=\"15\">{3}</text>\n",
      w, h, left, title);
  for (double v = lo; v <= hi + 1e-9; v += std::max(1.0, std::round((hi - lo) / 6))) {
    svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
                       "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:g}</text>\n",
                       left, w - right, py(v), left - 6, py(v) + 4, v);
  }
  svg += fmt::format("<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">training step (of {2})</text>\n",
                     (w + left) / 2, h - 12, losses.size());
  svg += fmt::format("<text x=\"16\" y=\"{0}\" transform=\"rotate(-90 16 {0})\" text-anchor=\"middle\">"
                     "{1}</text>\n", (h + top) / 2, y_label);
  std::string raw, smooth;
  double ema = losses.empty() ? 0 : losses[0];
  for (std::size_t i = 0; i < losses.size(); ++i) {
    ema = i == 0 ? losses[0] : 0.95 * ema + 0.05 * losses[i];
    raw += fmt::format("{:.1f},{:.1f} ", px(double(i)), py(losses[i]));
    smooth += fmt::format("{:.1f},{:.1f} ", px(double(i)), py(ema));
  }
  svg += "<polyline fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\" points=\"" + raw + "\"/>\n";
  svg += "<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2.5\" points=\"" + smooth + "\"/>\n";
  for (const auto& e : result.evaluations)
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"#e6550d\"/>\n",
                       px(double(e.step - result.first_step - 1)), py(e.loss));
  if (!result.evaluations.empty())
    svg += fmt::format("<circle cx=\"{0}\" cy=\"{1}\" r=\"4\" fill=\"#e6550d\"/><text x=\"{2}\" y=\"{3}\">"
                       "held-out loss</text>\n", w - right - 110, top + 6, w - right - 100, top + 10);
  svg += "</svg>\n";
  return svg;
}

}  // namespace elm::examples
