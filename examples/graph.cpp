// SPDX-License-Identifier: MIT
// elm-graph: node classification with two-layer graph networks on Zachary's karate club (graph convolutions of Kipf
// and Welling 2017, one labelled member per club) and on the Brown corpus's word graph (graph convolutions, and
// GraphSAGE layers over the words' neighbours in text order, beside the same networks without the graph).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/brown_words.hpp"
#include "common/commands.hpp"
#include "common/training_report.hpp"
#include "elm/classic/pos_tagger.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/graph.hpp"
#include "elm/nn/graph_attention.hpp"
#include "elm/nn/graph_convolution.hpp"
#include "elm/nn/graph_sage.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adam.hpp"
#include "elm/train/trainer.hpp"

namespace {

using elm::Index;
using elm::Matrix;
namespace nn = elm::nn;
namespace fs = std::filesystem;

/// The words' neighbours in text order, as two graphs over the same nodes: `before` sends each word to the words
/// seen just after it (so each word hears from the words seen just before it), `after` the reverse.
struct WordOrder {
  nn::Graph<float> before, after;
};

/// One layer over both orders, two GraphSage layers summed (the second without its own root weight and bias):
///   y_t = W_b mean(words seen just before t) + W_a mean(words seen just after t) + W_r x_t + b,
/// the relational graph convolution of Schlichtkrull et al. (2018) with two relations and mean normalisation. A
/// word's own features keep their own weight, and what precedes it stays apart from what follows it: "the ___"
/// and "___ the" say different things about a word's part of speech.
class WordOrderSage {
 public:
  struct Cache {
    nn::GraphSage<float>::Cache before, after;
  };

  WordOrderSage(Index in, Index out, elm::Rng& rng) : before_({in, out}, rng), after_({in, out, false, false}, rng) {}

  void forward(const Matrix<float>& x, const WordOrder& graphs, Matrix<float>& y, Cache* c) const {
    Matrix<float> from_after;
    before_.forward(x, graphs.before, y, c ? &c->before : nullptr);
    after_.forward(x, graphs.after, from_after, c ? &c->after : nullptr);
    y += from_after;
  }
  void backward(const Cache& c, const Matrix<float>& dy, Matrix<float>& dx) {
    Matrix<float> dx_after;
    before_.backward(c.before, dy, dx);
    after_.backward(c.after, dy, dx_after);
    dx += dx_after;
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    before_.for_each_parameter(nn::join_name(prefix, "before"), f);
    after_.for_each_parameter(nn::join_name(prefix, "after"), f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    before_.for_each_parameter(nn::join_name(prefix, "before"), f);
    after_.for_each_parameter(nn::join_name(prefix, "after"), f);
  }
  void zero_grad() {
    before_.zero_grad();
    after_.zero_grad();
  }

 private:
  nn::GraphSage<float> before_, after_;
};

/// Two graph layers: logits = L2(dropout(relu(L1(dropout(x))))), as in Kipf and Welling's section 3 with
/// L = GraphConvolution. With L = GraphAttention, L1 has `heads` heads side by side and L2 one head (Velickovic et
/// al.'s transductive model, with ReLU for ELU). On a graph without edges A_hat = I and the GCN is a two-layer
/// perceptron applied to each node on its own: the no-graph baseline is the same network, initialisation and
/// training on the edgeless graph.
template <typename Layer>
class GraphNet : public nn::Composite<GraphNet<Layer>> {
 public:
  struct Cache {
    nn::Dropout<float>::Cache drop_in, drop_hidden;
    typename Layer::Cache conv1, conv2;
    nn::Activation<float>::Cache relu;
    Matrix<float> hidden;  ///< relu(L1(...)): each node's learned representation
  };

  GraphNet(Index in, Index hidden, Index heads, Index classes, double dropout, elm::Rng& rng)
      : conv1_(make(in, hidden, heads, rng)), conv2_(make(hidden * heads, classes, 1, rng)), dropout_(dropout) {}

  /// x: (F, N) -> logits: (classes, N). Graph: what Layer propagates over (an nn::Graph, or WordOrder).
  template <typename Graph>
  void forward(const Matrix<float>& x, const Graph& graph, Matrix<float>& logits, Cache& c,
               const nn::ForwardContext& context) const {
    Matrix<float> a, b;
    dropout_.forward(x, a, &c.drop_in, context);
    conv1_.forward(a, graph, b, &c.conv1);
    relu_.forward(b, c.hidden, &c.relu);
    dropout_.forward(c.hidden, a, &c.drop_hidden, context);
    conv2_.forward(a, graph, logits, &c.conv2);
  }

  /// Adds every parameter's gradient from d loss / d logits.
  void backward(const Cache& c, const Matrix<float>& dlogits) {
    Matrix<float> a, b;
    conv2_.backward(c.conv2, dlogits, a);
    dropout_.backward(c.drop_hidden, a, b);
    relu_.backward(c.relu, b, a);
    conv1_.backward(c.conv1, a, b);  // the input's gradient b is not needed
  }

 private:
  friend class nn::Composite<GraphNet<Layer>>;
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.conv1_.for_each_parameter(nn::join_name(prefix, "conv1"), f);
    self.conv2_.for_each_parameter(nn::join_name(prefix, "conv2"), f);
  }

  static Layer make(Index in, Index out, Index heads, elm::Rng& rng) {
    if constexpr (std::is_same_v<Layer, nn::GraphAttention<float>>)
      return Layer({in, out, heads, /*concat=*/true}, rng);
    else if constexpr (std::is_same_v<Layer, WordOrderSage>)
      return Layer(in, out, rng);
    else
      return Layer({in, out}, rng);
  }

  Layer conv1_, conv2_;
  nn::Dropout<float> dropout_;
  nn::Activation<float> relu_{nn::ActivationKind::relu};
};

/// The trainer's data: every step sees the whole graph.
struct FullGraph {
  using batch_type = int;
  std::uint64_t drawn = 0;
  int next() {
    ++drawn;
    return 0;
  }
  std::uint64_t position() const { return drawn; }
  void seek(std::uint64_t p) { drawn = p; }
};

struct TrainSettings {
  Index hidden = 16;
  Index heads = 1;  ///< of the first layer, for graph attention
  Index epochs = 200;
  double lr = 0.01;
  double weight_decay = 5e-4;
  double dropout = 0.5;
  std::uint64_t seed = 1;
  bool quiet = false;
};

/// A node-classification task: features (F, N), each node's class, the nodes whose labels are seen in training
/// and those held out.
struct NodeTask {
  Matrix<float> features;
  std::vector<Index> labels;
  std::vector<Index> train_nodes, held_out_nodes;
  Index classes = 0;
};

struct TrainOutcome {
  double held_out_accuracy = 0.0;
  Index held_out_correct = 0;
  std::vector<Index> wrong;  ///< the held-out nodes classified wrongly
  double seconds = 0.0;
  Matrix<float> logits, hidden;  ///< of every node, after training (inference)
  elm::train::TrainResult result;
};

/// Targets of the given nodes, the others ignored.
std::vector<Index> targets_of(const NodeTask& task, const std::vector<Index>& nodes) {
  std::vector<Index> t(task.labels.size(), nn::CrossEntropyOptions{}.ignore_index);
  for (Index i : nodes) t[std::size_t(i)] = task.labels[std::size_t(i)];
  return t;
}

/// Trains a GraphNet of Layer (full batch, Adam with L2 weight decay, as Kipf and Welling) and scores the held-out
/// nodes.
template <typename Layer = nn::GraphConvolution<float>, typename Graph = nn::Graph<float>>
TrainOutcome train_gcn(const NodeTask& task, const Graph& graph, const TrainSettings& s) {
  const auto t0 = std::chrono::steady_clock::now();
  elm::Rng init(s.seed);
  GraphNet<Layer> model(task.features.rows(), s.hidden, s.heads, task.classes, s.dropout, init);
  nn::Adam<float> optimizer({s.lr, 0.9, 0.999, 1e-8, s.weight_decay, false});
  FullGraph data;
  elm::train::TrainerOptions options;
  options.steps = s.epochs;
  options.schedule = nn::LrSchedule::constant(s.lr);
  options.seed = s.seed;
  const std::vector<Index> train_targets = targets_of(task, task.train_nodes);
  const std::vector<Index> held_out_targets = targets_of(task, task.held_out_nodes);
  const nn::CrossEntropyOptions summed{nn::CrossEntropyOptions{}.ignore_index, 0.0, nn::Reduction::sum};
  typename GraphNet<Layer>::Cache cache;
  Matrix<float> logits, dlogits;
  elm::train::Trainer trainer(
      model, optimizer, data,
      [&](const int&, const nn::ForwardContext& context) {
        model.forward(task.features, graph, logits, cache, context);
        const float loss = nn::cross_entropy<float>(logits, train_targets, summed, &dlogits);
        model.backward(cache, dlogits);
        return elm::train::Loss{double(loss), elm::to_index(task.train_nodes.size())};
      },
      options);
  trainer.set_evaluation([&] {
    model.forward(task.features, graph, logits, cache, {});
    const float loss = nn::cross_entropy<float>(logits, held_out_targets, summed);
    return elm::train::Loss{double(loss), elm::to_index(task.held_out_nodes.size())};
  });
  TrainOutcome out;
  out.result = elm::examples::run_with_progress_bar(trainer, s.quiet);
  model.forward(task.features, graph, out.logits, cache, {});
  out.hidden = cache.hidden;
  for (Index i : task.held_out_nodes) {
    Index predicted = 0;
    out.logits.col(i).maxCoeff(&predicted);
    out.held_out_correct += predicted == task.labels[std::size_t(i)] ? 1 : 0;
    if (predicted != task.labels[std::size_t(i)]) out.wrong.push_back(i);
  }
  out.held_out_accuracy = double(out.held_out_correct) / double(std::max<std::size_t>(task.held_out_nodes.size(), 1));
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ELM_EXPECT(out.good(), elm::IoError, "elm-graph: cannot write \"", path.string(), "\"");
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  ELM_EXPECT(in.good(), elm::IoError, "elm-graph: cannot open \"", path.string(), "\"");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// ---- karate ----

struct Karate {
  std::vector<nn::GraphEdge> edges;
  std::vector<Index> club;  ///< 0: Mr. Hi, 1: Officer
  Index members = 0;
};

/// edges.txt ("u v" a line) and clubs.txt ("id<TAB>club" a line) of examples/data/karate.
Karate load_karate(const std::string& dir) {
  Karate k;
  std::vector<std::pair<Index, Index>> clubs;
  for (const std::string& line : read_lines(fs::path(dir) / "clubs.txt")) {
    const std::size_t tab = line.find('\t');
    ELM_EXPECT(tab != std::string::npos, elm::FormatError, "elm-graph: clubs.txt line \"", line,
               "\", expected id<TAB>club");
    const std::string name = line.substr(tab + 1);
    ELM_EXPECT(name == "Mr. Hi" || name == "Officer", elm::FormatError, "elm-graph: clubs.txt: club \"", name,
               "\", expected Mr. Hi or Officer");
    clubs.emplace_back(std::stoll(line.substr(0, tab)), name == "Mr. Hi" ? 0 : 1);
  }
  std::sort(clubs.begin(), clubs.end());
  k.members = elm::to_index(clubs.size());
  for (Index i = 0; i < k.members; ++i) {
    ELM_EXPECT(clubs[std::size_t(i)].first == i, elm::FormatError, "elm-graph: clubs.txt lists member ",
               clubs[std::size_t(i)].first, ", expected the ids 0 ... ", k.members - 1, " once each");
    k.club.push_back(clubs[std::size_t(i)].second);
  }
  for (const std::string& line : read_lines(fs::path(dir) / "edges.txt")) {
    std::istringstream in(line);
    nn::GraphEdge e;
    ELM_EXPECT(bool(in >> e.source >> e.target), elm::FormatError, "elm-graph: edges.txt line \"", line,
               "\", expected two member ids");
    k.edges.push_back(e);
  }
  return k;
}

/// The 2-D output of every member as an SVG scatter plot: edges in grey, members coloured by their true club,
/// the two labelled members circled, each member's id written on it.
std::string embedding_svg(const Matrix<float>& points, const Karate& k, const std::vector<Index>& labelled,
                          const std::string& title) {
  const double size = 640, margin = 40;
  const Eigen::Vector2f lo = points.rowwise().minCoeff(), hi = points.rowwise().maxCoeff();
  const auto coord = [&](Index i, int axis) {
    const double span = std::max(1e-6, double(hi(axis) - lo(axis)));
    const double t = (double(points(axis, i)) - double(lo(axis))) / span;
    return axis == 0 ? margin + t * (size - 2 * margin) : size - margin - t * (size - 2 * margin);
  };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"20\" font-size=\"14\">{3}</text>\n",
      size, size + 20, margin, title);
  for (const nn::GraphEdge& e : k.edges)
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#bbbbbb\"/>\n",
                       coord(e.source, 0), coord(e.source, 1), coord(e.target, 0), coord(e.target, 1));
  for (Index i = 0; i < k.members; ++i) {
    const bool seen = std::find(labelled.begin(), labelled.end(), i) != labelled.end();
    svg += fmt::format(
        "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"9\" fill=\"{}\" stroke=\"black\" stroke-width=\"{}\"/>\n"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"9\" text-anchor=\"middle\" fill=\"white\">{}</text>\n",
        coord(i, 0), coord(i, 1), k.club[std::size_t(i)] == 0 ? "#1f77b4" : "#d62728", seen ? 3 : 0.5, coord(i, 0),
        coord(i, 1) + 3, i);
  }
  svg += fmt::format(
      "<text x=\"{0}\" y=\"{1}\" font-size=\"12\" fill=\"#1f77b4\">Mr. Hi</text>"
      "<text x=\"{2}\" y=\"{1}\" font-size=\"12\" fill=\"#d62728\">Officer</text>"
      "<text x=\"{3}\" y=\"{1}\" font-size=\"12\">(thick outline: the two labelled members)</text>\n"
      "</svg>\n",
      margin, size + 10, margin + 60, margin + 130);
  return svg;
}

struct KarateArgs {
  std::string data = "examples/data/karate", out;
  TrainSettings train{16, 1, 200, 0.01, 5e-4, 0.0, 1, false};
  Index seeds = 1;
  bool attention = false;
};

int run_karate(const KarateArgs& a) {
  const Karate k = load_karate(a.data);
  const nn::Graph<float> graph(k.members, k.edges, nn::EdgeDirection::undirected);
  NodeTask task;
  task.features = Matrix<float>::Identity(k.members, k.members);  // no member attributes: one-hot ids
  task.labels = k.club;
  task.classes = 2;
  task.train_nodes = {0, k.members - 1};  // Mr. Hi himself and the officer
  for (Index i = 1; i + 1 < k.members; ++i) task.held_out_nodes.push_back(i);
  fmt::print(
      "karate club: {} members, {} friendships, clubs Mr. Hi {} / Officer {}; labelled: members 0 (Mr. Hi) "
      "and {} (Officer)\n",
      k.members, k.edges.size(), std::count(k.club.begin(), k.club.end(), 0),
      std::count(k.club.begin(), k.club.end(), 1), k.members - 1);
  if (a.attention)
    fmt::print("model: GAT({} -> {} x {} heads) relu GAT({} -> 2, one head)", k.members, a.train.hidden,
               a.train.heads, a.train.hidden * a.train.heads);
  else
    fmt::print("model: GCN({} -> {}) relu GCN({} -> 2)", k.members, a.train.hidden, a.train.hidden);
  fmt::print(", dropout {}, Adam lr {} weight decay {}, {} epochs\n", a.train.dropout, a.train.lr,
             a.train.weight_decay, a.train.epochs);
  std::vector<double> accuracies;
  TrainOutcome first;
  for (Index r = 0; r < a.seeds; ++r) {
    TrainSettings s = a.train;
    s.seed = a.train.seed + std::uint64_t(r);
    s.quiet = a.train.quiet || a.seeds > 1;
    TrainOutcome o = a.attention ? train_gcn<nn::GraphAttention<float>>(task, graph, s) : train_gcn(task, graph, s);
    std::string wrong;
    for (Index i : o.wrong) wrong += fmt::format("{}{}", wrong.empty() ? "" : " ", i);
    fmt::print("seed {}: held-out accuracy {:.4f} ({} of {}; wrong: {}), final training loss {:.4f}, {:.2f} s\n",
               s.seed, o.held_out_accuracy, o.held_out_correct, task.held_out_nodes.size(),
               wrong.empty() ? "none" : wrong, o.result.losses.empty() ? 0.0 : o.result.losses.back(), o.seconds);
    accuracies.push_back(o.held_out_accuracy);
    if (r == 0) first = std::move(o);
  }
  if (a.seeds > 1) {
    const double mean = std::accumulate(accuracies.begin(), accuracies.end(), 0.0) / double(accuracies.size());
    fmt::print("{} seeds: mean held-out accuracy {:.4f}, min {:.4f}, max {:.4f}\n", a.seeds, mean,
               *std::min_element(accuracies.begin(), accuracies.end()),
               *std::max_element(accuracies.begin(), accuracies.end()));
  }
  if (!a.out.empty()) {
    fs::create_directories(a.out);
    const std::string title =
        fmt::format("{} output of each member (seed {}), held-out accuracy {}/{}", a.attention ? "GAT" : "GCN",
                    a.train.seed, first.held_out_correct, task.held_out_nodes.size());
    write_text(fs::path(a.out) / "karate_embedding.svg", embedding_svg(first.logits, k, task.train_nodes, title));
    write_text(fs::path(a.out) / "karate_loss.csv", elm::examples::loss_csv(first.result));
    fmt::print("wrote {}/karate_embedding.svg (the 2-D output of seed {}) and karate_loss.csv\n", a.out, a.train.seed);
  }
  return 0;
}

// ---- brown-words ----

struct BrownArgs {
  std::string corpus = "examples/data/brown", out;
  elm::examples::WordGraphOptions graph;
  TrainSettings train{64, 1, 200, 0.01, 5e-4, 0.5, 1, false};
  double held_out_fraction = 0.5;
  double self_loop = 1.0;
  std::vector<std::string> networks{"gcn", "order"};
};

int run_brown_words(const BrownArgs& a) {
  using namespace elm::examples;
  const auto t0 = std::chrono::steady_clock::now();
  auto files = read_brown_files(a.corpus, "elm-graph");
  std::vector<std::pair<std::string, std::string>> training;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (!elm::classic::brown_held_out(elm::to_index(i))) training.push_back(std::move(files[i]));
  const WordGraph g = brown_word_graph(training, a.graph);
  const Index n = elm::to_index(g.words.size());
  // Each word's self-loop weighs self_loop times the summed weight of its edges (GCNConv keeps a listed loop's
  // weight): with the default loop of weight 1, a word whose edges weigh 100 in all would keep 1 % of its own
  // features, and its suffix is the best single clue to its tag.
  std::vector<nn::GraphEdge> edges = g.edges;
  if (a.self_loop > 0.0) {
    std::vector<double> strength(static_cast<std::size_t>(n), 0.0);
    for (const nn::GraphEdge& e : g.edges) {
      strength[std::size_t(e.source)] += e.weight;
      strength[std::size_t(e.target)] += e.weight;
    }
    for (Index i = 0; i < n; ++i) edges.push_back({i, i, std::max(1.0, a.self_loop * strength[std::size_t(i)])});
  }
  const nn::Graph<float> graph(n, edges, nn::EdgeDirection::undirected);
  const nn::Graph<float> no_edges(n, {});
  const double build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(
      "Brown word graph from the {} training files ({} tokens): {} words occurring >= {} times, {} edges "
      "(co-occurrence within {} positions, >= {} times, PMI > 0), {} features; built in {:.1f} s\n",
      training.size(), g.tokens, n, a.graph.min_count, g.edges.size(), a.graph.window, a.graph.min_pair_count,
      g.features.rows(), build_seconds);
  NodeTask task;
  task.features = g.features;
  task.labels = g.labels;
  task.classes = elm::to_index(universal_tags.size());
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index(0));
  elm::Rng split_rng(a.train.seed);
  split_rng.shuffle(order.begin(), order.end());
  const auto held_out = Index(std::llround(a.held_out_fraction * double(n)));
  task.held_out_nodes.assign(order.begin(), order.begin() + held_out);
  task.train_nodes.assign(order.begin() + held_out, order.end());
  std::sort(task.held_out_nodes.begin(), task.held_out_nodes.end());
  std::sort(task.train_nodes.begin(), task.train_nodes.end());
  std::vector<Index> per_tag(universal_tags.size(), 0);
  for (Index l : g.labels) per_tag[std::size_t(l)] += 1;
  std::string counts;
  for (std::size_t t = 0; t < universal_tags.size(); ++t)
    counts += fmt::format("{}{} {}", t ? ", " : "", universal_tags[t], per_tag[t]);
  fmt::print("labels (each word's most frequent universal tag): {}\n", counts);
  double same = 0.0, total = 0.0;
  for (const nn::GraphEdge& e : g.edges) {
    total += e.weight;
    same += g.labels[std::size_t(e.source)] == g.labels[std::size_t(e.target)] ? e.weight : 0.0;
  }
  fmt::print("edge homophily: {:.3f} of the edge weight joins words of the same label\n",
             same / std::max(total, 1e-30));
  const Index majority = Index(std::max_element(per_tag.begin(), per_tag.end()) - per_tag.begin());
  Index majority_hits = 0;
  for (Index i : task.held_out_nodes) majority_hits += g.labels[std::size_t(i)] == majority ? 1 : 0;
  fmt::print("split (seed {}): {} training words, {} held-out words; always {} scores {:.4f} on them\n", a.train.seed,
             task.train_nodes.size(), task.held_out_nodes.size(), universal_tags[std::size_t(majority)],
             double(majority_hits) / double(std::max<Index>(held_out, 1)));
  fmt::print("training: dropout {}, Adam lr {} weight decay {}, {} epochs, hidden width {}\n", a.train.dropout,
             a.train.lr, a.train.weight_decay, a.train.epochs, a.train.hidden);
  // each network on its graph, then the same network, initialisation and training on the same nodes without edges
  // (a two-layer perceptron of each word's own features: the no-graph baseline)
  const auto report = [&](const std::string& name, const TrainOutcome& with, const TrainOutcome& without) {
    fmt::print("{}: held-out accuracy {:.4f} ({} of {}), {:.1f} s; without edges {:.4f} ({} of {}), {:.1f} s\n", name,
               with.held_out_accuracy, with.held_out_correct, task.held_out_nodes.size(), with.seconds,
               without.held_out_accuracy, without.held_out_correct, task.held_out_nodes.size(), without.seconds);
    if (a.out.empty()) return;
    fs::create_directories(a.out);
    const std::string stem = (fs::path(a.out) / ("brown_" + name)).string();
    write_text(stem + "_loss.csv", loss_csv(with.result));
    write_text(stem + "_no_edges_loss.csv", loss_csv(without.result));
    write_text(stem + "_loss.svg", loss_svg(with.result, name + " on the Brown word graph"));
    write_text(stem + "_no_edges_loss.svg", loss_svg(without.result, name + " without edges"));
    fmt::print("wrote {}{{,_no_edges}}_loss.{{csv,svg}}\n", stem);
  };
  for (const std::string& network : a.networks) {
    if (network == "gcn") {
      fmt::print("gcn: GCN({} -> {}) relu GCN({} -> {}) on the co-occurrence graph\n", g.features.rows(),
                 a.train.hidden, a.train.hidden, task.classes);
      const TrainOutcome with = train_gcn(task, graph, a.train);
      report("gcn", with, train_gcn(task, no_edges, a.train));
    } else {
      // every distinct pair "u v" of neighbouring nodes: v hears from u in `before`, u from v in `after`
      std::vector<nn::GraphEdge> reversed;
      for (const nn::GraphEdge& e : g.next_word) reversed.push_back({e.target, e.source, e.weight});
      const WordOrder word_order{nn::Graph<float>(n, g.next_word), nn::Graph<float>(n, reversed)};
      const WordOrder none{nn::Graph<float>(n, {}), nn::Graph<float>(n, {})};
      fmt::print("order: SAGE({} -> {}) relu SAGE({} -> {}) over the words seen just before and just after each word "
                 "({} distinct neighbouring pairs)\n",
                 g.features.rows(), a.train.hidden, a.train.hidden, task.classes, g.next_word.size());
      const TrainOutcome with = train_gcn<WordOrderSage>(task, word_order, a.train);
      report("order", with, train_gcn<WordOrderSage>(task, none, a.train));
    }
  }
  return 0;
}

void add_train_options(CLI::App* cmd, TrainSettings& s) {
  cmd->add_option("--hidden", s.hidden, "Width of the hidden layer")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--epochs", s.epochs, "Full-graph training steps")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--lr", s.lr, "Adam's learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", s.weight_decay, "Adam's L2 weight decay")->capture_default_str();
  cmd->add_option("--dropout", s.dropout, "Dropout on the input and the hidden layer")->capture_default_str();
  cmd->add_option("--seed", s.seed, "Seed of the initialisation and dropout (brown-words: and of the split)")
      ->capture_default_str();
  cmd->add_flag("--quiet", s.quiet, "No progress bar");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Graph convolutional networks (Kipf and Welling 2017): node classification on Zachary's karate club "
      "and on the Brown corpus's word graph"};
  app.require_subcommand(1);
  elm::examples::Commands commands;

  KarateArgs karate;
  CLI::App* k = app.add_subcommand("karate",
                                   "Two-layer GCN on Zachary's karate club, one labelled member per club: "
                                   "accuracy on the other 32 members and a picture of the 2-D output");
  k->add_option("--data", karate.data, "Folder with edges.txt and clubs.txt")->capture_default_str();
  k->add_option("--out", karate.out, "Folder for karate_embedding.svg and karate_loss.csv");
  k->add_option("--seeds", karate.seeds, "Train this many times (seeds --seed, --seed + 1, ...) and report each")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  k->add_flag("--attention", karate.attention, "Graph attention layers (GATConv) instead of graph convolutions");
  k->add_option("--heads", karate.train.heads, "With --attention: heads of the first layer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_train_options(k, karate.train);
  commands.add(k, [&] { return run_karate(karate); });

  BrownArgs brown;
  CLI::App* b = app.add_subcommand("brown-words",
                                   "Graph networks on the Brown word graph (words as nodes, "
                                   "co-occurrence and word-order edges, part-of-speech labels), each beside "
                                   "the same network without edges");
  b->add_option("--corpus", brown.corpus, "Folder of the Brown files")->capture_default_str();
  b->add_option("--out", brown.out, "Folder for the loss curves");
  b->add_option("--min-count", brown.graph.min_count, "A word is a node from this many occurrences")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  b->add_option("--window", brown.graph.window, "Co-occurrence window (positions)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  b->add_option("--min-pair-count", brown.graph.min_pair_count, "Co-occurrences an edge needs")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  b->add_option("--held-out-fraction", brown.held_out_fraction, "Share of the words held out")
      ->check(CLI::Range(0.01, 0.99))
      ->capture_default_str();
  b->add_option("--frequent-words", brown.graph.frequent_words,
                "Identities of this many most frequent words as features")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  b->add_option("--self-loop", brown.self_loop,
                "Each word's self-loop weight, times the summed weight of its edges (0: weight 1, GCNConv's default)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  b->add_option("--networks", brown.networks,
                "Networks to train, each beside itself without edges: gcn (graph convolutions on the co-occurrence "
                "graph), order (GraphSAGE layers over the words seen just before and just after each word)")
      ->delimiter(',')
      ->check(CLI::IsMember({"gcn", "order"}))
      ->capture_default_str();
  add_train_options(b, brown.train);
  commands.add(b, [&] { return run_brown_words(brown); });

  return commands.run(app, argc, argv, "elm-graph");
}
