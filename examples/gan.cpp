// SPDX-License-Identifier: MIT
// elm-gan: generative adversarial networks trained with the non-saturating loss and alternating Adam updates.
// `ring` learns a mixture of Gaussians on a circle and measures how many of its modes the generator covers;
// `digits` learns the 8x8 handwritten digits and writes grids of samples during training and the loss curves.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/austen.hpp"
#include "common/commands.hpp"
#include "common/digits.hpp"
#include "common/image_grid.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/models/gan.hpp"
#include "elm/models/mode_coverage.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/optim/adam.hpp"
#include "elm/nn/sequential.hpp"

namespace fs = std::filesystem;
using elm::Index;
using elm::Matrix;
namespace nn = elm::nn;

namespace {

// A multilayer perceptron in -> hidden -> hidden -> out with ReLUs: the ring's generator.
using Mlp = nn::Sequential<nn::Linear<float>, nn::Activation<float>, nn::Linear<float>, nn::Activation<float>,
                           nn::Linear<float>>;
// The same with a sigmoid on the output: the digits' generator, whose pixels are in [0, 1].
using SigmoidMlp = nn::Sequential<nn::Linear<float>, nn::Activation<float>, nn::Linear<float>, nn::Activation<float>,
                                  nn::Linear<float>, nn::Activation<float>>;

// PacGAN's packing (Lin et al. 2018): the discriminator scores groups of `pack` samples, each group's columns
// stacked into one (C, N) -> (C pack, N / pack). Seeing several samples at once, D can tell a generator that puts
// them all in a few modes from the data, which spreads over all of them: the remedy for mode collapse that the paper
// measures on this ring. In Eigen's column-major layout the reshape keeps the bytes, so forward and backward copy.
struct PackSamples {
  using scalar_type = float;
  struct Cache {
    Index rows = 0, cols = 0;
  };
  Index pack = 1;

  void forward(const Eigen::Ref<const Matrix<float>>& x, Matrix<float>& y, Cache* cache = nullptr,
               const nn::ForwardContext& = {}) const {
    ELM_EXPECT(x.cols() % pack == 0, elm::ShapeError, "PackSamples::forward: a batch of ", x.cols(),
               " samples does not split into groups of ", pack, " (--pack)");
    y = Eigen::Map<const Matrix<float>>(Matrix<float>(x).data(), x.rows() * pack, x.cols() / pack);
    if (cache) *cache = {x.rows(), x.cols()};
  }
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<float>>& dy, Matrix<float>& dx) {
    dx = Eigen::Map<const Matrix<float>>(Matrix<float>(dy).data(), cache.rows, cache.cols);
  }
  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}
};

// The other end of the packing: the group's logit for each of its samples, (1, N / pack) -> (1, N), so that the
// mean loss over the N samples is the mean over the groups; backward sums the copies.
struct RepeatLogits {
  using scalar_type = float;
  struct Cache {};
  Index pack = 1;

  void forward(const Eigen::Ref<const Matrix<float>>& x, Matrix<float>& y, Cache* = nullptr,
               const nn::ForwardContext& = {}) const {
    y.resize(x.rows(), x.cols() * pack);
    for (Index j = 0; j < y.cols(); ++j) y.col(j) = x.col(j / pack);
  }
  void backward(const Cache&, const Eigen::Ref<const Matrix<float>>& dy, Matrix<float>& dx) {
    dx.setZero(dy.rows(), dy.cols() / pack);
    for (Index j = 0; j < dy.cols(); ++j) dx.col(j / pack) += dy.col(j);
  }
  template <typename F>
  void for_each_parameter(std::string_view, F&&) const {}
  void zero_grad() {}
};

// The discriminators: an MLP on packed samples with dropout after each hidden layer (as in Goodfellow et al.'s
// networks), which keeps D from winning outright on a small data set such as the digits.
using Discriminator = nn::Sequential<PackSamples, nn::Linear<float>, nn::Activation<float>, nn::Dropout<float>,
                                     nn::Linear<float>, nn::Activation<float>, nn::Dropout<float>, nn::Linear<float>,
                                     RepeatLogits>;

Discriminator make_discriminator(Index in, Index hidden, double dropout, Index pack, elm::Rng& rng) {
  return Discriminator(PackSamples{pack}, nn::Linear<float>(in * pack, hidden, rng),
                       nn::Activation<float>(nn::ActivationKind::relu), nn::Dropout<float>(dropout),
                       nn::Linear<float>(hidden, hidden, rng), nn::Activation<float>(nn::ActivationKind::relu),
                       nn::Dropout<float>(dropout), nn::Linear<float>(hidden, 1, rng), RepeatLogits{pack});
}

Mlp make_mlp(Index in, Index hidden, Index out, elm::Rng& rng) {
  return Mlp(nn::Linear<float>(in, hidden, rng), nn::Activation<float>(nn::ActivationKind::relu),
             nn::Linear<float>(hidden, hidden, rng), nn::Activation<float>(nn::ActivationKind::relu),
             nn::Linear<float>(hidden, out, rng));
}

SigmoidMlp make_sigmoid_mlp(Index in, Index hidden, Index out, elm::Rng& rng) {
  return SigmoidMlp(nn::Linear<float>(in, hidden, rng), nn::Activation<float>(nn::ActivationKind::relu),
                    nn::Linear<float>(hidden, hidden, rng), nn::Activation<float>(nn::ActivationKind::relu),
                    nn::Linear<float>(hidden, out, rng), nn::Activation<float>(nn::ActivationKind::sigmoid));
}

// What both commands are told about training.
struct TrainArgs {
  std::int64_t steps = 0;
  Index batch = 0, latent = 0, hidden = 0, pack = 1;
  double lr = 0, beta1 = 0.5, decay_from = 0.5, dropout = 0;
  std::uint64_t seed = 1;
  std::string out_dir;
  bool quiet = false;
};

void add_train_options(CLI::App* c, TrainArgs& a) {
  c->add_option("--steps", a.steps, "Training steps (one discriminator and one generator update each)")
      ->capture_default_str();
  c->add_option("--batch", a.batch, "Real and generated samples per step")->capture_default_str();
  c->add_option("--latent", a.latent, "Width of the generator's noise z ~ N(0, I)")->capture_default_str();
  c->add_option("--hidden", a.hidden, "Width of both networks' two hidden layers")->capture_default_str();
  c->add_option("--lr", a.lr, "Adam's learning rate, both networks")->capture_default_str();
  c->add_option("--decay-from", a.decay_from, "The learning rate stays constant for this fraction of the steps, "
                                              "then decays linearly to 0 (1: no decay)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  c->add_option("--beta1", a.beta1, "Adam's beta1, both networks (0.5 as in DCGAN)")->capture_default_str();
  c->add_option("--pack", a.pack, "The discriminator scores groups of this many samples (PacGAN; 1: one by one)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--dropout", a.dropout, "Dropout after the discriminator's hidden layers")
      ->check(CLI::Range(0.0, 0.95))
      ->capture_default_str();
  c->add_option("--seed", a.seed, "Seed of the weights, the noise, the data batches and dropout")->capture_default_str();
  c->add_option("--out", a.out_dir, "Folder for the pictures and the loss curves")->capture_default_str();
  c->add_flag("--quiet", a.quiet, "No progress bar");
}

// How the header line names the discriminator's input.
std::string packs(Index pack) { return pack == 1 ? std::string() : fmt::format("on packs of {} samples ", pack); }

// One line of progress on standard error, redrawn in place.
void draw_progress(std::int64_t step, std::int64_t steps, const elm::models::DiscriminatorStep& d,
                   const elm::models::GeneratorStep& g, double seconds, bool final_line) {
  const int width = 30;
  const double fraction = double(step) / double(std::max<std::int64_t>(steps, 1));
  const int filled = std::clamp(int(fraction * width + 0.5), 0, width);
  std::fprintf(stderr, "\r[%s%s] %3d%%  step %lld  D loss %.3f  G loss %.3f  D(x) %.2f  D(G(z)) %.2f  %.0fs ",
               std::string(std::size_t(filled), '#').c_str(), std::string(std::size_t(width - filled), '.').c_str(),
               int(fraction * 100 + 0.5), static_cast<long long>(step), d.loss, g.loss, d.real_probability,
               d.fake_probability, seconds);
  if (final_line) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

// The mean of sigmoid(logit) over a row of D's logits: the probability of "real" D gives on average.
double mean_sigmoid(const Matrix<float>& logits) {
  Matrix<float> p;
  nn::activation_forward<float>(nn::ActivationKind::sigmoid, logits, p);
  return double(p.mean());
}

Matrix<float> normal_matrix(Index rows, Index cols, elm::Rng& rng) {
  Matrix<float> m(rows, cols);
  rng.fill_normal(m, 0.0, 1.0);
  return m;
}

// The alternating updates: each step draws a real batch and noise, steps D on BCE(D(x), 1) + BCE(D(G(z)), 0),
// then draws fresh noise and steps G on the non-saturating BCE(D(G(z)), 1). `after_step(step)` runs after each.
// Writes "step,d_loss,g_loss,d_real,d_fake" for every step to <out>/losses.csv.
template <typename Generator, typename Discriminator>
void train_gan(Generator& generator, Discriminator& discriminator, const TrainArgs& a, elm::Rng& rng,
               const std::function<Matrix<float>(Index)>& real_batch,
               const std::function<void(std::int64_t)>& after_step) {
  nn::Adam<float> g_optimizer({a.lr, a.beta1, 0.999, 1e-8, 0.0, false});
  nn::Adam<float> d_optimizer({a.lr, a.beta1, 0.999, 1e-8, 0.0, false});
  std::string csv = "step,d_loss,g_loss,d_real,d_fake\n";
  const auto t0 = std::chrono::steady_clock::now();
  auto last_draw = t0 - std::chrono::seconds(1);
  elm::models::DiscriminatorStep d;
  elm::models::GeneratorStep g;
  const nn::ForwardContext context = nn::ForwardContext::train(rng);  // D's dropout draws from rng
  const auto decay_start = std::int64_t(a.decay_from * double(a.steps));
  for (std::int64_t step = 1; step <= a.steps; ++step) {
    const double lr = step <= decay_start ? a.lr
                                          : a.lr * double(a.steps - step + 1) / double(a.steps - decay_start);
    d_optimizer.set_lr(lr);
    g_optimizer.set_lr(lr);
    discriminator.zero_grad();  // also clears what the last generator step sent through D
    d = elm::models::discriminator_loss_and_backward(generator, discriminator, real_batch(a.batch),
                                                     normal_matrix(a.latent, a.batch, rng), context);
    d_optimizer.step(discriminator);
    generator.zero_grad();
    g = elm::models::generator_loss_and_backward(generator, discriminator, normal_matrix(a.latent, a.batch, rng),
                                                 context);
    g_optimizer.step(generator);
    csv += fmt::format("{},{:.5f},{:.5f},{:.4f},{:.4f}\n", step, d.loss, g.loss, d.real_probability,
                       d.fake_probability);
    after_step(step);
    const auto now = std::chrono::steady_clock::now();
    if (!a.quiet && (step == a.steps || now - last_draw > std::chrono::milliseconds(250))) {
      draw_progress(step, a.steps, d, g, std::chrono::duration<double>(now - t0).count(), step == a.steps);
      last_draw = now;
    }
  }
  elm::io::write_text_atomically((fs::path(a.out_dir) / "losses.csv").string(), csv);
  fmt::print("trained {} steps of {} real and {} generated samples in {:.1f} s; last step: D loss {:.3f}, G loss "
             "{:.3f}, D(x) {:.3f}, D(G(z)) {:.3f}\n",
             a.steps, a.batch, a.batch, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
             d.loss, g.loss, d.real_probability, d.fake_probability);
}

// ---- ring ----

struct RingArgs {
  TrainArgs train;
  Index modes = 8, samples = 2000;
  double radius = 2.0, sigma = 0.02;
};

// Real samples: a mode drawn uniformly, then centre + sigma * N(0, I).
Matrix<float> ring_samples(const Matrix<double>& centres, double sigma, Index n, elm::Rng& rng) {
  Matrix<float> x(2, n);
  for (Index j = 0; j < n; ++j) {
    const Index k = Index(rng.below(std::uint64_t(centres.cols())));
    for (Index i = 0; i < 2; ++i) x(i, j) = float(centres(i, k) + sigma * rng.normal());
  }
  return x;
}

// Real (gray) and generated (blue) points (the first 500 of each, which keeps the file small), and the 3-sigma
// circles (red) around the modes, as an SVG picture.
std::string ring_svg(const Matrix<float>& real, const Matrix<float>& fake, const Matrix<double>& centres,
                     double radius, double sigma, const std::string& title) {
  const double size = 520, half = size / 2, scale = half / (radius * 1.5);
  auto px = [&](double v) { return half + scale * v; };
  auto py = [&](double v) { return half - scale * v; };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"20\">{2}</text>\n",
      size, size + 20, title);
  const Index shown = 500;
  for (Index j = 0; j < std::min(real.cols(), shown); ++j)
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"1.5\" fill=\"#999\"/>\n", px(real(0, j)),
                       py(real(1, j)));
  for (Index j = 0; j < std::min(fake.cols(), shown); ++j)
    if (std::isfinite(fake(0, j)) && std::isfinite(fake(1, j)))
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"1.5\" fill=\"#2171b5\" fill-opacity=\"0.6\"/>\n",
                         px(fake(0, j)), py(fake(1, j)));
  for (Index k = 0; k < centres.cols(); ++k)
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{:.1f}\" fill=\"none\" stroke=\"#cb181d\"/>\n",
                       px(centres(0, k)), py(centres(1, k)), 3 * sigma * scale);
  svg += fmt::format("<text x=\"10\" y=\"{0}\"><tspan fill=\"#999\">real</tspan>  <tspan fill=\"#2171b5\">"
                     "generated</tspan>  <tspan fill=\"#cb181d\">3 sigma around each mode</tspan></text>\n</svg>\n",
                     size + 12);
  return svg;
}

int run_ring(const RingArgs& a) {
  const TrainArgs& t = a.train;
  ELM_EXPECT(a.modes >= 1 && a.radius > 0 && a.sigma > 0 && a.samples >= 1 && t.steps >= 1 && t.batch >= 1 &&
                 t.latent >= 1 && t.hidden >= 1,
             elm::InvalidArgument, "ring: expected positive sizes, steps, radius and sigma");
  ELM_EXPECT(t.batch % t.pack == 0, elm::InvalidArgument, "ring: --batch ", t.batch, " is not a multiple of --pack ",
             t.pack);
  fs::create_directories(t.out_dir);
  const Matrix<double> centres = elm::models::ring_centres(a.modes, a.radius);
  fmt::print("data: {} Gaussians of sigma {} on a circle of radius {}; generator {} -> {} -> {} -> 2, "
             "discriminator {}{} -> {} -> {} -> 1 (ReLU, dropout {}), Adam lr {} betas ({}, 0.999) (linear decay to 0 from {:.0f} % of the "
             "steps), seed {}\n",
             a.modes, a.sigma, a.radius, t.latent, t.hidden, t.hidden, packs(t.pack), 2 * t.pack, t.hidden, t.hidden,
             t.dropout, t.lr, t.beta1,
             100 * t.decay_from, t.seed);
  elm::Rng rng(t.seed);
  Mlp generator = make_mlp(t.latent, t.hidden, 2, rng);
  Discriminator discriminator = make_discriminator(2, t.hidden, t.dropout, t.pack, rng);
  train_gan(generator, discriminator, t, rng,
            [&](Index n) { return ring_samples(centres, a.sigma, n, rng); }, [](std::int64_t) {});
  // Coverage of N fresh samples: within 3 sigma of a mode, a mode covered when it holds >= 1 % of them
  Matrix<float> fake;
  generator.forward(normal_matrix(t.latent, a.samples, rng), fake);
  const Index min_samples = std::max<Index>(1, a.samples / 100);
  const auto coverage = elm::models::mode_coverage<float>(fake, centres, 3 * a.sigma, min_samples);
  const Matrix<float> real = ring_samples(centres, a.sigma, a.samples, rng);
  const auto real_coverage = elm::models::mode_coverage<float>(real, centres, 3 * a.sigma, min_samples);
  std::string counts;
  for (Index c : coverage.counts) counts += fmt::format(" {}", c);
  fmt::print("generated: {} of {} modes covered (>= {} samples within 3 sigma), {:.1f} % of {} samples within "
             "3 sigma of a mode; per mode:{}\n",
             coverage.covered, a.modes, min_samples, 100 * coverage.fraction_within(), a.samples, counts);
  fmt::print("real data: {} of {} modes, {:.1f} % within 3 sigma\n", real_coverage.covered, a.modes,
             100 * real_coverage.fraction_within());
  const std::string svg = (fs::path(t.out_dir) / "ring.svg").string();
  elm::io::write_text_atomically(
      svg, ring_svg(real, fake, centres, a.radius, a.sigma,
                    fmt::format("seed {}: {} of {} modes, {:.1f} % within 3 sigma", t.seed, coverage.covered, a.modes,
                                100 * coverage.fraction_within())));
  fmt::print("wrote {} and {}\n", svg, (fs::path(t.out_dir) / "losses.csv").string());
  return 0;
}

// ---- digits ----

struct DigitsArgs {
  TrainArgs train;
  std::string data;
  Index snapshots = 4;
};

std::vector<std::vector<float>> columns_of(const Matrix<float>& m) {
  std::vector<std::vector<float>> out;
  for (Index j = 0; j < m.cols(); ++j) out.emplace_back(m.col(j).data(), m.col(j).data() + m.rows());
  return out;
}

int run_digits(const DigitsArgs& a, const char* program) {
  const TrainArgs& t = a.train;
  ELM_EXPECT(t.steps >= 1 && t.batch >= 1 && t.latent >= 1 && t.hidden >= 1 && a.snapshots >= 1,
             elm::InvalidArgument, "digits: expected positive steps, sizes and snapshots");
  ELM_EXPECT(t.batch % t.pack == 0, elm::InvalidArgument, "digits: --batch ", t.batch,
             " is not a multiple of --pack ", t.pack);
  fs::create_directories(t.out_dir);
  const std::string path = a.data.empty()
                               ? (fs::path(elm::examples::find_data_dir(program, "digits")) / "digits.csv").string()
                               : a.data;
  const elm::examples::DigitsSplit digits = elm::examples::load_digits(path);
  const Matrix<float>& train = digits.train.pixels;
  fmt::print("data: {} training digits of 8x8 pixels in [0, 1] ({}); generator {} -> {} -> {} -> 64 (sigmoid), "
             "discriminator {}{} -> {} -> {} -> 1 (ReLU, dropout {}), Adam lr {} betas ({}, 0.999) (linear decay to 0 from {:.0f} % "
             "of the steps), seed {}\n",
             train.cols(), path, t.latent, t.hidden, t.hidden, packs(t.pack), 64 * t.pack, t.hidden, t.hidden, t.dropout,
             t.lr, t.beta1, 100 * t.decay_from,
             t.seed);
  elm::Rng rng(t.seed);
  SigmoidMlp generator = make_sigmoid_mlp(t.latent, t.hidden, elm::examples::kDigitPixels, rng);
  Discriminator discriminator = make_discriminator(elm::examples::kDigitPixels, t.hidden, t.dropout, t.pack, rng);
  const Matrix<float> fixed_noise = normal_matrix(t.latent, 64, rng);  // the same 64 codes in every picture
  std::vector<std::string> written;
  const auto snapshot = [&](std::int64_t step) {
    Matrix<float> samples;
    generator.forward(fixed_noise, samples);
    const std::string file = (fs::path(t.out_dir) / fmt::format("samples_step{:05d}.png", step)).string();
    elm::examples::write_png(file, elm::examples::image_grid(columns_of(samples), 8, 8, 8));
    written.push_back(file);
  };
  snapshot(0);
  elm::examples::write_png((fs::path(t.out_dir) / "real.png").string(),
                           elm::examples::image_grid(columns_of(train.leftCols(64)), 8, 8, 8));
  train_gan(generator, discriminator, t, rng,
            [&](Index n) {
              Matrix<float> x(train.rows(), n);
              for (Index j = 0; j < n; ++j) x.col(j) = train.col(Index(rng.below(std::uint64_t(train.cols()))));
              return x;
            },
            [&](std::int64_t step) {
              if (step % std::max<std::int64_t>(1, t.steps / a.snapshots) == 0 || step == t.steps) snapshot(step);
            });
  // What was learnt, on 500 fresh samples: which digit each looks like (the label of its nearest training digit, a
  // 1-nearest-neighbour classifier; a collapsed generator shows few classes), how far it is from that digit (near
  // zero everywhere would be memorisation; the held-out digits' own distances are the yardstick), and D's scores
  Matrix<float> samples, logits;
  generator.forward(normal_matrix(t.latent, 500, rng), samples);
  const auto nearest = [&](const Matrix<float>& x, std::vector<Index>& classes) {
    double total = 0;
    classes.assign(10, 0);
    for (Index j = 0; j < x.cols(); ++j) {
      Index best = 0;
      total += std::sqrt(double((train.colwise() - x.col(j)).colwise().squaredNorm().minCoeff(&best)));
      ++classes[std::size_t(digits.train.labels[std::size_t(best)])];
    }
    return total / double(x.cols());
  };
  std::vector<Index> generated_classes, held_out_classes;
  const double generated_distance = nearest(samples, generated_classes);
  const double held_out_distance = nearest(digits.held_out.pixels, held_out_classes);
  std::string histogram;
  Index classes_seen = 0;
  for (Index c = 0; c < 10; ++c) {
    histogram += fmt::format(" {}:{}", c, generated_classes[std::size_t(c)]);
    classes_seen += generated_classes[std::size_t(c)] >= 5 ? 1 : 0;  // >= 1 % of the samples
  }
  fmt::print("500 generated digits as their nearest training digit labels them:{} ({} of 10 classes with >= 1 %)\n",
             histogram, classes_seen);
  discriminator.forward(digits.held_out.pixels, logits);
  const double held_out_real = mean_sigmoid(logits);
  discriminator.forward(samples, logits);
  const double generated_real = mean_sigmoid(logits);
  fmt::print("mean distance to the nearest training digit: generated {:.3f}, held-out digits {:.3f} (64 pixels in "
             "[0, 1]); D(x) on the {} held-out digits {:.3f}, on the generated ones {:.3f}\n",
             generated_distance, held_out_distance, digits.held_out.size(), held_out_real, generated_real);
  fmt::print("wrote {}, real.png, {} sample grids (samples_step*.png) and losses.csv\n", t.out_dir, written.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Generative adversarial networks (non-saturating loss, alternating Adam updates): a mixture of "
               "Gaussians on a ring with its mode coverage, and the 8x8 handwritten digits"};
  app.require_subcommand(1);
  elm::examples::Commands commands;

  auto ring = std::make_shared<RingArgs>();
  ring->train = {10000, 256, 16, 128, 4, 1e-3, 0.5, 0.5, 0.0, 1, "gan-ring", false};
  auto* r = app.add_subcommand("ring", "A GAN on a mixture of Gaussians on a circle; reports how many modes the "
                                       "generator covers and the fraction of its samples within 3 sigma of a mode, "
                                       "and draws real and generated points (ring.svg)");
  add_train_options(r, ring->train);
  r->add_option("--modes", ring->modes, "Gaussians on the circle")->capture_default_str();
  r->add_option("--radius", ring->radius, "The circle's radius")->capture_default_str();
  r->add_option("--sigma", ring->sigma, "Each Gaussian's standard deviation")->capture_default_str();
  r->add_option("--samples", ring->samples, "Generated samples the coverage is measured on")->capture_default_str();
  commands.add(r, [ring] { return run_ring(*ring); });

  auto digits = std::make_shared<DigitsArgs>();
  digits->train = {6000, 64, 32, 256, 1, 2e-4, 0.5, 0.5, 0.3, 1, "gan-digits", false};
  auto* d = app.add_subcommand("digits", "A GAN on the 8x8 handwritten digits; writes grids of samples of the same "
                                         "noise at a few points of training (PNG) and the loss curves (CSV)");
  add_train_options(d, digits->train);
  d->add_option("--data", digits->data, "digits.csv (default: examples/data/digits/digits.csv)");
  d->add_option("--snapshots", digits->snapshots, "Sample grids written during training (besides step 0)")
      ->capture_default_str();
  const char* program = argv[0];
  commands.add(d, [digits, program] { return run_digits(*digits, program); });
  return commands.run(app, argc, argv, "elm-gan");
}
