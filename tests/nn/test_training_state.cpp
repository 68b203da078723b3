// SPDX-License-Identifier: MIT
// Training state: save/restore round trip, resuming gives the same losses, strict loading.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "elm/io/checkpoint.hpp"
#include "elm/io/training_state.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/sgd.hpp"
#include "elm/nn/sequential.hpp"
#include "gradcheck.hpp"

namespace nn = elm::nn;
using elm::Index;
using MatF = elm::Matrix<float>;
using Mlp = nn::Sequential<nn::Linear<float>, nn::Activation<float>, nn::Linear<float>>;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("elm-nn-" + name)).string();
}

Mlp make_seeded_mlp(std::uint64_t seed) {
  elm::Rng rng(seed);
  return Mlp(nn::Linear<float>(6, 8, rng), nn::Activation<float>(nn::ActivationKind::gelu), nn::Linear<float>(8, 4, rng));
}

// The batch of step s depends only on (seed, s), so a resumed run sees the same data.
float train_step(Mlp& mlp, nn::AdamW<float>& opt, std::int64_t s) {
  elm::Rng rng(1000 + static_cast<std::uint64_t>(s));
  MatF x(6, 16);
  rng.fill_normal(x, 0.0, 1.0);
  std::vector<Index> targets(16);
  for (auto& t : targets) t = Index(rng.below(4));
  Mlp::Cache cache;
  MatF logits, dlogits, dx;
  mlp.forward(x, logits, &cache);
  const float loss = nn::cross_entropy<float>(logits, targets, {}, &dlogits);
  mlp.zero_grad();
  mlp.backward(cache, dlogits, dx);
  opt.step(mlp);
  return loss;
}

}  // namespace

TEST_CASE("Resuming from a training state gives exactly the losses of an uninterrupted run", "[nn][io][resume]") {
  const nn::AdamWOptions options{0.01, 0.9, 0.99, 1e-8, 0.05};
  Mlp straight = make_seeded_mlp(3);
  nn::AdamW<float> opt_straight(options);
  std::vector<float> expected;
  for (int s = 0; s < 12; ++s) expected.push_back(train_step(straight, opt_straight, s));

  Mlp first = make_seeded_mlp(3);
  nn::AdamW<float> opt_first(options);
  for (int s = 0; s < 5; ++s) CHECK(train_step(first, opt_first, s) == expected[std::size_t(s)]);
  const std::string path = temp_path("resume.safetensors");
  elm::io::save_training_state(path, first, opt_first, 5, {{"note", "test"}});

  Mlp resumed = make_seeded_mlp(99);  // different weights: all must come from the file
  nn::AdamW<float> opt_resumed(options);
  const auto meta = elm::io::load_training_state(path, resumed, opt_resumed);
  CHECK(meta.at("note") == "test");
  const std::int64_t start = std::stoll(meta.at("step"));
  CHECK(start == 5);
  CHECK(opt_resumed.steps() == 5);
  for (std::int64_t s = start; s < 12; ++s) CHECK(train_step(resumed, opt_resumed, s) == expected[std::size_t(s)]);
  resumed.for_each_parameter("", [&](const std::string&, nn::Parameter<float>& p) { CHECK(p.value.allFinite()); });
  std::remove(path.c_str());
}

TEST_CASE("A parameter checkpoint round-trips and rejects missing or misshapen tensors", "[nn][io][bad-input]") {
  Mlp mlp = make_seeded_mlp(4);
  const std::string path = temp_path("params.safetensors");
  elm::io::save_parameters(path, mlp, {{"architecture", "mlp"}});
  Mlp other = make_seeded_mlp(5);
  elm::io::load_parameters(path, other);
  MatF x = MatF::Random(6, 3), y1, y2;
  mlp.forward(x, y1);
  other.forward(x, y2);
  CHECK(y1 == y2);

  // A model with a wider output layer: wrong shape, and the model is left unchanged.
  elm::Rng rng(1);
  Mlp wider(nn::Linear<float>(6, 8, rng), nn::Activation<float>(nn::ActivationKind::gelu), nn::Linear<float>(8, 5, rng));
  const MatF before = wider.layer<0>().weight().value;
  REQUIRE_THROWS_AS(elm::io::load_parameters(path, wider), elm::ShapeError);
  CHECK(wider.layer<0>().weight().value == before);

  // A training-state file lacking a tensor, and a plain checkpoint given as a training state.
  nn::Sgd<float> sgd({0.1, 0.9});
  elm::io::save_training_state(path, mlp, sgd, 0);
  using Bigger = nn::Sequential<nn::Linear<float>, nn::Activation<float>, nn::Linear<float>, nn::Linear<float>>;
  Bigger bigger(nn::Linear<float>(6, 8), nn::Activation<float>(nn::ActivationKind::gelu), nn::Linear<float>(8, 4),
                nn::Linear<float>(4, 4));
  REQUIRE_THROWS_MATCHES(elm::io::load_training_state(path, bigger, sgd), elm::FormatError,
                         elm_test::MessageContains("is missing tensor '3.weight'"));
  elm::io::save_parameters(path, mlp);
  REQUIRE_THROWS_MATCHES(elm::io::load_training_state(path, mlp, sgd), elm::FormatError,
                         elm_test::MessageContains("is not a training-state file"));
  std::remove(path.c_str());
}

TEST_CASE("SGD momentum buffers survive a save and restore", "[nn][io][resume]") {
  Mlp a = make_seeded_mlp(6);
  nn::Sgd<float> opt({0.05, 0.9});
  MatF x = MatF::Random(6, 4), logits, dl, dx;
  const std::vector<Index> targets{0, 1, 2, 3};
  Mlp::Cache cache;
  a.forward(x, logits, &cache);
  nn::cross_entropy<float>(logits, targets, {}, &dl);
  a.zero_grad();
  a.backward(cache, dl, dx);
  opt.step(a);
  const std::string path = temp_path("sgd.safetensors");
  elm::io::save_training_state(path, a, opt, 1);
  Mlp b = make_seeded_mlp(7);
  nn::Sgd<float> opt_b({0.05, 0.9});
  elm::io::load_training_state(path, b, opt_b);
  std::vector<MatF> bufs_a, bufs_b;
  opt.for_each_state([&](const std::string&, MatF& m) { bufs_a.push_back(m); });
  opt_b.for_each_state([&](const std::string&, MatF& m) { bufs_b.push_back(m); });
  REQUIRE(bufs_a.size() == 4);
  CHECK(bufs_a == bufs_b);
  std::remove(path.c_str());
}

TEST_CASE("A training state that fails at its last tensor leaves the model and the optimizer as they were",
          "[nn][io][bad-input]") {
  // Every parameter and every optimizer state but the last is readable: the load reads them all before it finds
  // the last one's shape wrong, and must then assign none of them.
  Mlp trained = make_seeded_mlp(8);
  nn::AdamW<float> trained_optimizer;
  const auto step = [](Mlp& model, nn::AdamW<float>& optimizer) {
    MatF x = MatF::Random(6, 4), logits, dl, dx;
    Mlp::Cache cache;
    model.forward(x, logits, &cache);
    nn::cross_entropy<float>(logits, {0, 1, 2, 3}, {}, &dl);
    model.zero_grad();
    model.backward(cache, dl, dx);
    optimizer.step(model);
  };
  step(trained, trained_optimizer);
  const std::string good_path = temp_path("state-good.safetensors"), bad_path = temp_path("state-bad.safetensors");
  elm::io::save_training_state(good_path, trained, trained_optimizer, 1);

  elm::io::SafetensorsWriter writer;
  const elm::io::SafetensorsReader good(good_path);
  for (const auto& [key, value] : good.metadata()) writer.set_metadata(key, value);
  trained.for_each_parameter("", [&](const std::string& name, const auto& p) { writer.add(name, p.shape, p.value); });
  std::vector<std::string> state_names;
  trained_optimizer.for_each_state([&](const std::string& name, MatF&) { state_names.push_back(name); });
  REQUIRE(state_names.size() >= 2);
  trained_optimizer.for_each_state([&](const std::string& name, MatF& m) {
    if (name == state_names.back())  // one row too many
      writer.add("optimizer." + name, {m.rows() + 1, m.cols()}, MatF(MatF::Zero(m.rows() + 1, m.cols())));
    else
      writer.add("optimizer." + name, elm::io::detail::state_shape(m.rows(), m.cols()), m);
  });
  writer.save(bad_path);

  Mlp model = make_seeded_mlp(9);
  nn::AdamW<float> optimizer;
  step(model, optimizer);
  std::vector<MatF> parameters_before, states_before;
  model.for_each_parameter("", [&](const std::string&, const auto& p) { parameters_before.push_back(p.value); });
  optimizer.for_each_state([&](const std::string&, MatF& m) { states_before.push_back(m); });
  const auto steps_before = optimizer.steps();

  REQUIRE_THROWS_MATCHES(elm::io::load_training_state(bad_path, model, optimizer), elm::ShapeError,
                         elm_test::MessageContains("optimizer." + state_names.back()));
  std::vector<MatF> parameters_after, states_after;
  model.for_each_parameter("", [&](const std::string&, const auto& p) { parameters_after.push_back(p.value); });
  optimizer.for_each_state([&](const std::string&, MatF& m) { states_after.push_back(m); });
  CHECK(parameters_after == parameters_before);
  CHECK(states_after == states_before);
  CHECK(optimizer.steps() == steps_before);

  // the good file loads into the same objects: the failure above was the file's, not theirs
  elm::io::load_training_state(good_path, model, optimizer);
  std::vector<MatF> trained_parameters, loaded_parameters;
  trained.for_each_parameter("", [&](const std::string&, const auto& p) { trained_parameters.push_back(p.value); });
  model.for_each_parameter("", [&](const std::string&, const auto& p) { loaded_parameters.push_back(p.value); });
  CHECK(loaded_parameters == trained_parameters);
  std::remove(good_path.c_str());
  std::remove(bad_path.c_str());
}
