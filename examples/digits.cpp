// SPDX-License-Identifier: MIT
// elm-digits: models of the 8x8 handwritten digits (examples/data/digits). `classify` trains a small CNN,
// `autoencoder` an MLP autoencoder (beside PCA with as many components), `vae` a variational autoencoder; each
// reports its held-out numbers and writes its loss curve and pictures (PNG image grids) to --out.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/austen.hpp"  // find_data_dir
#include "common/commands.hpp"
#include "common/digits.hpp"
#include "common/image_grid.hpp"
#include "common/training_report.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/models/autoencoder.hpp"
#include "elm/models/conv_classifier.hpp"
#include "elm/models/vae.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/train/batch_rng.hpp"
#include "elm/train/labelled_batches.hpp"
#include "elm/train/trainer.hpp"

namespace fs = std::filesystem;
using elm::Index;
using elm::Matrix;
using elm::examples::DigitImages;

namespace {

// What every command is told.
struct Args {
  std::string data_dir, out_dir = "digits-out";
  std::uint64_t seed = 1;
  std::int64_t steps = 0, eval_every = 0, warmup = 20;
  Index batch = 64;
  double lr = 0.0, weight_decay = 0.0;
  bool quiet = false;
};

// The trainer's data: each example is its image's index (a one-token "sequence"), shuffled epoch after epoch
// by train::ShuffledExamples; gather() turns a batch of indices into the images' columns.
std::vector<std::vector<Index>> image_indices(Index n) {
  std::vector<std::vector<Index>> out;
  for (Index i = 0; i < n; ++i) out.push_back({i});
  return out;
}

Matrix<float> gather(const DigitImages& images, const elm::train::LabelledBatch& batch) {
  Matrix<float> x(images.pixels.rows(), Index(batch.sequences.size()));
  for (std::size_t j = 0; j < batch.sequences.size(); ++j) x.col(Index(j)) = images.pixels.col(batch.sequences[j][0]);
  return x;
}

elm::train::ShuffledExamples training_source(const DigitImages& train, const Args& a) {
  return elm::train::ShuffledExamples(image_indices(train.size()), train.labels, a.batch, a.seed);
}

std::vector<elm::train::LabelledBatch> held_out_batches(const DigitImages& held_out) {
  return elm::train::labelled_batches(image_indices(held_out.size()), held_out.labels, 128);
}

elm::train::TrainerOptions trainer_options(const Args& a) {
  elm::train::TrainerOptions o;
  o.steps = a.steps;
  o.schedule = elm::nn::LrSchedule::warmup_cosine(a.lr, std::min(a.warmup, a.steps - 1), a.steps, a.lr * 0.05);
  o.eval_every = a.eval_every > 0 ? a.eval_every : std::max<std::int64_t>(1, a.steps / 10);
  o.seed = a.seed;
  return o;
}

// The images' pixels as vectors for image_grid.
std::vector<float> image_of(const Eigen::Ref<const Matrix<float>>& pixels, Index column) {
  return std::vector<float>(pixels.col(column).data(), pixels.col(column).data() + pixels.rows());
}

void write_grid(const Args& a, const std::string& name, const std::vector<std::vector<float>>& images, int columns) {
  const std::string path = (fs::path(a.out_dir) / name).string();
  elm::examples::write_png(path, elm::examples::image_grid(images, elm::examples::kDigitSide,
                                                           elm::examples::kDigitSide, columns));
}

void write_curves(const Args& a, const std::string& command, const elm::train::TrainResult& result,
                  const std::string& title, const std::string& y_label) {
  elm::io::write_text_atomically((fs::path(a.out_dir) / (command + "-loss.csv")).string(),
                                 elm::examples::loss_csv(result));
  elm::io::write_text_atomically((fs::path(a.out_dir) / (command + "-loss.svg")).string(),
                                 elm::examples::loss_svg(result, title, y_label));
}

elm::examples::DigitsSplit load(const Args& a) {
  auto split = elm::examples::load_digits((fs::path(a.data_dir) / "digits.csv").string());
  fmt::print("digits: {} training images, {} held out (image i held out when i mod 5 = 4), 8x8 pixels in [0, 1]\n",
             split.train.size(), split.held_out.size());
  fs::create_directories(a.out_dir);
  return split;
}

// The parameters an optimizer updates (BatchNorm's running statistics are visited too, but not trained).
template <typename Model>
Index trainable_parameters(const Model& model) {
  Index n = 0;
  model.for_each_parameter("", [&](const std::string&, const auto& p) { n += p.trainable ? p.numel() : 0; });
  return n;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---- classify ----

struct ClassifyArgs : Args {
  std::vector<Index> widths{32, 64};
  double dropout = 0.25;
};

int classify(const ClassifyArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto split = load(a);
  elm::models::ConvClassifierConfig config;
  config.widths = a.widths;
  config.dropout = a.dropout;
  elm::Rng init(a.seed);
  elm::models::ConvClassifier<float> model(config, init);
  const auto as_images = [](const Matrix<float>& x) {  // (64, B) columns are the (1, B*64) image layout's bytes
    return Eigen::Map<const Matrix<float>>(x.data(), 1, x.size());
  };
  auto source = training_source(split.train, a);
  elm::nn::AdamW<float> optimizer({a.lr, 0.9, 0.999, 1e-8, a.weight_decay});
  elm::nn::CrossEntropyOptions summed;
  summed.reduction = elm::nn::Reduction::sum;
  elm::train::Trainer trainer(
      model, optimizer, source,
      [&](const elm::train::LabelledBatch& b, const elm::nn::ForwardContext& context) {
        const Matrix<float> x = gather(split.train, b);
        const Index B = x.cols();
        typename elm::models::ConvClassifier<float>::Cache cache;
        Matrix<float> logits, dlogits;
        model.forward(as_images(x), B, logits, &cache, context);
        const float loss = elm::nn::cross_entropy<float>(logits, b.labels, summed, &dlogits);
        model.backward(cache, dlogits);
        return elm::train::Loss{double(loss), std::int64_t(B)};
      },
      trainer_options(a));
  trainer.set_evaluation(held_out_batches(split.held_out), [&](const elm::train::LabelledBatch& b) {
    const Matrix<float> x = gather(split.held_out, b);
    Matrix<float> logits;
    model.forward(as_images(x), x.cols(), logits);
    return elm::train::Loss{double(elm::nn::cross_entropy<float>(logits, b.labels, summed)), std::int64_t(x.cols())};
  });
  std::string blocks;
  for (Index w : config.widths) blocks += fmt::format("[conv3x3 {} -> BN -> ReLU -> maxpool2] ", w);
  const Index trainable = trainable_parameters(model);
  fmt::print("model: {}-> flatten -> dropout {} -> linear 10; {} trainable parameters (and {} running statistics); "
             "AdamW lr {}, weight decay {}, {} steps of {} images, seed {}\n",
             blocks, config.dropout, trainable, elm::nn::count_parameters(model) - trainable, a.lr, a.weight_decay,
             a.steps, a.batch, a.seed);
  const auto result = elm::examples::run_with_progress_bar(trainer, a.quiet);

  const auto accuracy = [&](const DigitImages& images, std::vector<Index>& predicted) {
    predicted = model.predict(as_images(images.pixels), images.size());
    Index right = 0;
    for (Index i = 0; i < images.size(); ++i) right += predicted[std::size_t(i)] == images.labels[std::size_t(i)];
    return double(right) / double(images.size());
  };
  std::vector<Index> train_predicted, predicted;
  const double train_accuracy = accuracy(split.train, train_predicted);
  const double held_out_accuracy = accuracy(split.held_out, predicted);
  fmt::print("trained {} steps in {:.1f} s; held-out cross-entropy {:.4f} nats/image\n", result.losses.size(),
             result.seconds, result.evaluations.back().loss);
  // the confusion matrix and the misclassified images, in held-out order
  Matrix<Index> confusion = Matrix<Index>::Zero(10, 10);
  std::vector<std::vector<float>> wrong_images;
  std::string wrong_list;
  for (Index i = 0; i < split.held_out.size(); ++i) {
    const Index truth = split.held_out.labels[std::size_t(i)], guess = predicted[std::size_t(i)];
    ++confusion(truth, guess);
    if (truth == guess) continue;
    wrong_images.push_back(image_of(split.held_out.pixels, i));
    wrong_list += fmt::format("{}{} as {}", wrong_list.empty() ? "" : ", ", truth, guess);
  }
  fmt::print("accuracy: training {:.2f} %, held-out {:.2f} % ({} of {} wrong)\n", 100 * train_accuracy,
             100 * held_out_accuracy, wrong_images.size(), split.held_out.size());
  fmt::print("confusion (rows: true digit, columns: predicted):\n     ");
  for (int c = 0; c < 10; ++c) fmt::print("{:>4}", c);
  fmt::print("\n");
  for (int r = 0; r < 10; ++r) {
    fmt::print("  {}: ", r);
    for (int c = 0; c < 10; ++c) fmt::print("{:>4}", confusion(r, c));
    fmt::print("\n");
  }
  write_curves(a, "classify", result, "elm-digits classify: training loss", "cross-entropy (nats/image)");
  if (!wrong_images.empty()) {
    write_grid(a, "classify-misclassified.png", wrong_images, 8);
    fmt::print("misclassified held-out digits (true as predicted, left to right, top to bottom in "
               "classify-misclassified.png): {}\n", wrong_list);
  }
  fmt::print("wrote {}/classify-loss.csv, classify-loss.svg{}; wall time {:.1f} s\n", a.out_dir,
             wrong_images.empty() ? "" : ", classify-misclassified.png", seconds_since(t0));
  return 0;
}

// ---- autoencoder ----

struct AutoencoderArgs : Args {
  elm::models::AutoencoderConfig config;
};

// The first held-out image of each digit 0-9, then the next of each: `count` images in all.
std::vector<Index> one_of_each_digit(const DigitImages& images, Index count) {
  std::vector<Index> picked;
  std::vector<Index> next(10, 0);
  while (Index(picked.size()) < count) {
    const std::size_t before = picked.size();
    for (Index digit = 0; digit < 10 && Index(picked.size()) < count; ++digit)
      for (Index& i = next[std::size_t(digit)]; i < images.size(); ++i)
        if (images.labels[std::size_t(i)] == digit) {
          picked.push_back(i++);
          break;
        }
    if (picked.size() == before) break;
  }
  return picked;
}

// PCA fitted on the training images: the mean and the top k principal directions (64, k).
struct Pca {
  Eigen::VectorXf mean;
  Matrix<float> components;
  Matrix<float> reconstruct(const Matrix<float>& x) const {
    const Matrix<float> centred = x.colwise() - mean;
    Matrix<float> out = components * (components.transpose() * centred);
    return out.colwise() + mean;
  }
};

Pca fit_pca(const Matrix<float>& x, Index k) {
  // Subspace iteration on the covariance (Golub and Van Loan, section 8.2.4): Q <- orthonormalise(C Q) converges to
  // the top k eigenvectors at the rate of the gap lambda_{k+1} / lambda_k; 500 rounds of 64 x 64 products take
  // milliseconds and are far past convergence here (Eigen's SelfAdjointEigenSolver gave the same errors, to the
  // printed digits, and would cost the program seconds of compilation).
  Pca p;
  p.mean = x.rowwise().mean();
  const Matrix<double> centred = (x.colwise() - p.mean).cast<double>();
  const Matrix<double> covariance = centred * centred.transpose();
  Matrix<double> q(x.rows(), k);  // a random start: pixels that are always blank make axes of the null space
  elm::Rng rng(1);
  rng.fill_normal(q, 0.0, 1.0);
  for (int round = 0; round < 500; ++round) {
    q = (covariance * q).eval();
    for (Index j = 0; j < k; ++j) {  // modified Gram-Schmidt
      for (Index i = 0; i < j; ++i) q.col(j) -= q.col(i).dot(q.col(j)) * q.col(i);
      q.col(j).normalize();
    }
  }
  p.components = q.cast<float>();
  return p;
}

// The squared error summed over every pixel of every image.
double squared_error(const Matrix<float>& a, const Matrix<float>& b) { return double((a - b).squaredNorm()); }

int autoencoder(const AutoencoderArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto split = load(a);
  elm::Rng init(a.seed);
  elm::models::Autoencoder<float> model(a.config, init);
  auto source = training_source(split.train, a);
  elm::nn::AdamW<float> optimizer({a.lr, 0.9, 0.999, 1e-8, a.weight_decay});
  const auto sse = [](const Matrix<float>& x_hat, const Matrix<float>& x, Matrix<float>* d) {
    return double(elm::nn::mse<float>(x_hat, x, elm::nn::Reduction::sum, d));
  };
  elm::train::Trainer trainer(
      model, optimizer, source,
      [&](const elm::train::LabelledBatch& b, const elm::nn::ForwardContext& context) {
        const Matrix<float> x = gather(split.train, b);
        typename elm::models::Autoencoder<float>::Cache cache;
        Matrix<float> x_hat, d;
        model.forward(x, x_hat, &cache, context);
        const double loss = sse(x_hat, x, &d);
        model.backward(cache, d);
        return elm::train::Loss{loss, std::int64_t(x.cols())};
      },
      trainer_options(a));
  trainer.set_evaluation(held_out_batches(split.held_out), [&](const elm::train::LabelledBatch& b) {
    const Matrix<float> x = gather(split.held_out, b);
    Matrix<float> x_hat;
    model.forward(x, x_hat);
    return elm::train::Loss{sse(x_hat, x, nullptr), std::int64_t(x.cols())};
  });
  const auto& c = a.config;
  fmt::print("model: 64 -> linear {} -> ReLU -> linear {} (code) -> linear {} -> ReLU -> linear 64 -> sigmoid; "
             "{} parameters; squared error loss; AdamW lr {}, {} steps of {} images, seed {}\n",
             c.hidden, c.code, c.hidden, elm::nn::count_parameters(model), a.lr, a.steps, a.batch, a.seed);
  const auto result = elm::examples::run_with_progress_bar(trainer, a.quiet);

  const Matrix<float>& held = split.held_out.pixels;
  const double n = double(held.cols()), pixels = n * double(held.rows());
  Matrix<float> x_hat;
  model.forward(held, x_hat);
  const Pca pca = fit_pca(split.train.pixels, c.code);
  const Matrix<float> pca_hat = pca.reconstruct(held);
  const Matrix<float> mean_hat = pca.mean.replicate(1, held.cols());
  fmt::print("trained {} steps in {:.1f} s\n", result.losses.size(), result.seconds);
  fmt::print("held-out reconstruction error ({} images):  squared error per image   per pixel (MSE)   RMSE\n",
             held.cols());
  const auto row = [&](const std::string& name, const Matrix<float>& r) {
    const double e = squared_error(r, held);
    fmt::print("  {:<40} {:>10.3f} {:>16.5f} {:>10.4f}\n", name, e / n, e / pixels, std::sqrt(e / pixels));
  };
  row(fmt::format("autoencoder, code of {}", c.code), x_hat);
  row(fmt::format("PCA, {} components (fitted on training)", c.code), pca_hat);
  row("the training images' mean image", mean_hat);

  const std::vector<Index> shown = one_of_each_digit(split.held_out, 20);
  std::vector<std::vector<float>> grid;
  for (Index half = 0; half < 2; ++half) {  // two sets of 10: originals, autoencoder, PCA
    for (const Matrix<float>* m : std::initializer_list<const Matrix<float>*>{&held, &x_hat, &pca_hat})
      for (Index k = half * 10; k < std::min<Index>(Index(shown.size()), half * 10 + 10); ++k)
        grid.push_back(image_of(*m, shown[std::size_t(k)]));
  }
  write_grid(a, "autoencoder-reconstructions.png", grid, 10);
  write_curves(a, "autoencoder", result, fmt::format("elm-digits autoencoder (code {}): training loss", c.code),
               "squared error per image");
  fmt::print("wrote {}/autoencoder-loss.csv, autoencoder-loss.svg, autoencoder-reconstructions.png (rows: held-out "
             "originals, autoencoder, PCA; twice); wall time {:.1f} s\n",
             a.out_dir, seconds_since(t0));
  return 0;
}

// ---- vae ----

struct VaeArgs : Args {
  elm::models::VaeConfig config;
  Index eval_samples = 100;
};

// eps ~ N(0, I) of shape (D, B).
Matrix<float> standard_normal(elm::Rng& rng, Index rows, Index cols) {
  Matrix<float> eps(rows, cols);
  rng.fill_normal(eps, 0.0, 1.0);
  return eps;
}

// The negative ELBO's terms summed over the images of x, each averaged over `samples` draws of eps from a
// generator seeded by `seed` alone (so every evaluation uses the same noise).
elm::models::VaeLoss vae_terms(const elm::models::Vae<float>& model, const Matrix<float>& x, Index samples,
                               std::uint64_t seed) {
  elm::Rng rng = elm::train::batch_rng(seed, 0);
  elm::models::VaeLoss sum;
  for (Index s = 0; s < samples; ++s) {
    const auto t = model.loss(x, standard_normal(rng, model.config().latent, x.cols()));
    sum.reconstruction += t.reconstruction / double(samples);
    sum.kl += t.kl / double(samples);
  }
  return sum;
}

int vae(const VaeArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto split = load(a);
  const auto& c = a.config;
  elm::Rng init(a.seed);
  elm::models::Vae<float> model(c, init);
  auto source = training_source(split.train, a);
  elm::nn::AdamW<float> optimizer({a.lr, 0.9, 0.999, 1e-8, a.weight_decay});
  elm::train::Trainer trainer(
      model, optimizer, source,
      [&](const elm::train::LabelledBatch& b, const elm::nn::ForwardContext& context) {
        const Matrix<float> x = gather(split.train, b);
        typename elm::models::Vae<float>::Cache cache;
        // one draw of eps per image and step, from the trainer's (checkpointed) generator
        const auto terms = model.loss(x, standard_normal(context.require_rng("elm-digits vae"), c.latent, x.cols()), &cache,
                                      context);
        model.backward(cache);
        return elm::train::Loss{terms.total(), std::int64_t(x.cols())};
      },
      trainer_options(a));
  trainer.set_evaluation(held_out_batches(split.held_out), [&](const elm::train::LabelledBatch& b) {
    const Matrix<float> x = gather(split.held_out, b);
    const auto t = vae_terms(model, x, 1, a.seed + std::uint64_t(b.sequences[0][0]));
    return elm::train::Loss{t.total(), std::int64_t(x.cols())};
  });
  fmt::print("model: encoder 64 -> linear {} -> ReLU -> linear 2 x {} (mu, log sigma^2); z = mu + sigma eps; decoder "
             "{} -> linear {} -> ReLU -> linear 64 -> Bernoulli logits; {} parameters; AdamW lr {}, {} steps of {} "
             "images, seed {}\n",
             c.hidden, c.latent, c.latent, c.hidden, elm::nn::count_parameters(model), a.lr, a.steps, a.batch, a.seed);
  const auto result = elm::examples::run_with_progress_bar(trainer, a.quiet);
  fmt::print("trained {} steps in {:.1f} s\n", result.losses.size(), result.seconds);

  // held-out and training ELBO, each image's reconstruction term averaged over eval_samples draws of eps
  const auto report = [&](const std::string& name, const DigitImages& images) {
    const auto t = vae_terms(model, images.pixels, a.eval_samples, a.seed + 1000);
    const double n = double(images.size());
    // the Bernoulli term's floor: each intensity's own binary entropy, what a perfect decoder would pay
    const auto p = images.pixels.array().cast<double>();
    const double floor =
        -((p * p.max(1e-300).log()) + ((1 - p) * (1 - p).max(1e-300).log())).sum() / n;
    fmt::print("  {:<10} {:>10.3f} {:>16.3f} {:>10.3f} {:>26.3f}\n", name, -t.total() / n, t.reconstruction / n,
               t.kl / n, floor);
  };
  fmt::print("ELBO in nats per image ({} draws of eps per image):\n"
             "             ELBO   reconstruction   KL        reconstruction floor\n"
             "                    -log p(x|z)      (q||p)    (the pixels' own entropy)\n",
             a.eval_samples);
  report("held-out", split.held_out);
  report("training", split.train);

  // reconstructions: originals above the decoder's means at z = mu
  const Matrix<float>& held = split.held_out.pixels;
  Matrix<float> mu, logvar, means;
  model.encode(held, mu, logvar);
  model.decode(mu, means);
  // a latent dimension is in use when its mean moves with the image (Burda et al. 2016's active units)
  const Eigen::VectorXf mu_mean = mu.rowwise().mean();
  const Eigen::VectorXf mu_var = (mu.colwise() - mu_mean).rowwise().squaredNorm() / float(mu.cols());
  fmt::print("active latent dimensions (variance of mu over the held-out images > 0.01): {} of {}\n",
             (mu_var.array() > 0.01f).count(), c.latent);
  const std::vector<Index> shown = one_of_each_digit(split.held_out, 20);
  std::vector<std::vector<float>> grid;
  for (Index half = 0; half < 2; ++half)
    for (const Matrix<float>* m : std::initializer_list<const Matrix<float>*>{&held, &means})
      for (Index k = half * 10; k < std::min<Index>(Index(shown.size()), half * 10 + 10); ++k)
        grid.push_back(image_of(*m, shown[std::size_t(k)]));
  write_grid(a, "vae-reconstructions.png", grid, 10);

  // samples from the prior: z ~ N(0, I), shown as the decoder's means
  elm::Rng sample_rng(a.seed + 2000);
  Matrix<float> samples;
  model.decode(standard_normal(sample_rng, c.latent, 100), samples);
  grid.clear();
  for (Index j = 0; j < samples.cols(); ++j) grid.push_back(image_of(samples, j));
  write_grid(a, "vae-samples.png", grid, 10);

  // the latent space: a grid over z in [-2, 2]^2 for D = 2, else straight lines between held-out digits' means
  std::string walk;
  grid.clear();
  if (c.latent == 2) {
    const int side = 15;
    Matrix<float> z(2, side * side), walked;
    for (int r = 0; r < side; ++r)
      for (int col = 0; col < side; ++col) {
        z(0, r * side + col) = -2.0f + 4.0f * float(col) / float(side - 1);
        z(1, r * side + col) = 2.0f - 4.0f * float(r) / float(side - 1);
      }
    model.decode(z, walked);
    for (Index j = 0; j < walked.cols(); ++j) grid.push_back(image_of(walked, j));
    write_grid(a, "vae-latent-walk.png", grid, side);
    walk = "vae-latent-walk.png (z1 from -2 to 2 left to right, z2 from 2 to -2 top to bottom)";
  } else {
    const int steps = 10;
    const std::vector<std::pair<Index, Index>> pairs{{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}, {3, 8}, {1, 7}, {4, 9}};
    for (const auto& [from, to] : pairs) {
      const Index i = shown[std::size_t(from)], j = shown[std::size_t(to)];
      Matrix<float> z(c.latent, steps), walked;
      for (int s = 0; s < steps; ++s) {
        const float t = float(s) / float(steps - 1);
        z.col(s) = (1 - t) * mu.col(i) + t * mu.col(j);
      }
      model.decode(z, walked);
      grid.push_back(image_of(held, i));
      for (Index s = 0; s < steps; ++s) grid.push_back(image_of(walked, s));
      grid.push_back(image_of(held, j));
    }
    write_grid(a, "vae-interpolations.png", grid, steps + 2);
    walk = "vae-interpolations.png (each row: a held-out digit, the decoded means along the line between its and "
           "another's mu, that other digit)";
  }
  write_curves(a, "vae", result, fmt::format("elm-digits vae (latent {}): training loss", c.latent),
               "negative ELBO (nats/image)");
  fmt::print("wrote {}/vae-loss.csv, vae-loss.svg, vae-reconstructions.png (rows: held-out originals, decoded means "
             "at z = mu; twice), vae-samples.png (z from N(0, I)), {}; wall time {:.1f} s\n",
             a.out_dir, walk, seconds_since(t0));
  return 0;
}

// Options every command has, with the command's own defaults in `a`.
void add_common_options(CLI::App* cmd, Args& a) {
  cmd->add_option("--data", a.data_dir, "Folder of digits.csv")->capture_default_str();
  cmd->add_option("--out", a.out_dir, "Folder for the loss curve (CSV, SVG) and the pictures (PNG)")
      ->capture_default_str();
  cmd->add_option("--steps", a.steps, "Optimizer steps")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--batch", a.batch, "Images per step")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--lr", a.lr, "Peak AdamW learning rate (warmup, then cosine decay to 5 %)")->capture_default_str();
  cmd->add_option("--warmup", a.warmup, "Linear warmup steps")->capture_default_str();
  cmd->add_option("--weight-decay", a.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  cmd->add_option("--eval-every", a.eval_every, "Held-out loss every N steps (0: ten times in the run)")
      ->capture_default_str();
  cmd->add_option("--seed", a.seed, "Seed of the initialisation, the batches, dropout and the noise")
      ->capture_default_str();
  cmd->add_flag("--quiet", a.quiet, "No progress bar");
}

// The autoencoder's and the VAE's command: their defaults (3,000 steps, lr 3e-3, no weight decay), the common
// options and --hidden.
CLI::App* add_unsupervised_command(CLI::App& app, const char* name, const std::string& description, Args& a,
                                   Index& hidden, const std::string& data_dir) {
  a.data_dir = data_dir;
  a.steps = 3000;
  a.lr = 3e-3;
  a.weight_decay = 0.0;
  auto* cmd = app.add_subcommand(name, description);
  add_common_options(cmd, a);
  cmd->add_option("--hidden", hidden, "Hidden units of the encoder and of the decoder")->capture_default_str();
  return cmd;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Models of the 8x8 handwritten digits scikit-learn ships (1,438 training and 359 held-out images): "
               "a CNN classifier, an autoencoder and a variational autoencoder, each with its loss curve and "
               "pictures"};
  app.require_subcommand(1);
  elm::examples::Commands commands;
  const std::string data_dir = elm::examples::find_data_dir(argv[0], "digits");

  ClassifyArgs classify_args;
  classify_args.data_dir = data_dir;
  classify_args.steps = 600;
  classify_args.lr = 3e-3;
  classify_args.weight_decay = 0.01;
  auto* classify_cmd = app.add_subcommand("classify", "Train a small CNN (Conv2d, BatchNorm, max pooling, Linear) "
                                                      "with AdamW; report held-out accuracy and write the "
                                                      "misclassified digits as a PNG");
  add_common_options(classify_cmd, classify_args);
  classify_cmd->add_option("--widths", classify_args.widths, "Output channels of each convolution block")
      ->capture_default_str();
  classify_cmd->add_option("--dropout", classify_args.dropout, "Dropout before the linear head")
      ->capture_default_str();
  commands.add(classify_cmd, [&] { return classify(classify_args); });

  AutoencoderArgs ae_args;
  auto* ae_cmd = add_unsupervised_command(app, "autoencoder", "Train an MLP autoencoder with a small code; report "
                                          "its held-out reconstruction error beside PCA's and write reconstructions "
                                          "as a PNG", ae_args, ae_args.config.hidden, data_dir);
  ae_cmd->add_option("--code", ae_args.config.code, "Numbers in the bottleneck")->capture_default_str();
  commands.add(ae_cmd, [&] { return autoencoder(ae_args); });

  VaeArgs vae_args;
  auto* vae_cmd = add_unsupervised_command(app, "vae", "Train a variational autoencoder (Gaussian encoder, Bernoulli "
                                           "decoder); report the held-out ELBO and its terms and write "
                                           "reconstructions, prior samples and a latent-space walk as PNGs",
                                           vae_args, vae_args.config.hidden, data_dir);
  vae_cmd->add_option("--latent", vae_args.config.latent, "Latent dimensions D (2: the walk is a grid over z)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  vae_cmd->add_option("--eval-samples", vae_args.eval_samples, "Draws of eps per image in the final ELBO")
      ->check(CLI::PositiveNumber)->capture_default_str();
  commands.add(vae_cmd, [&] { return vae(vae_args); });

  return commands.run(app, argc, argv, "elm-digits");
}
