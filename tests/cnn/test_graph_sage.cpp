// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "../common/run_program.hpp"
#include "elm/nn/graph.hpp"
#include "elm/nn/graph_sage.hpp"
#include "elm/nn/linear.hpp"
#include "graph_fixture.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::nn::EdgeDirection;
using elm::nn::Graph;
using elm::nn::GraphEdge;
using elm::nn::GraphSage;
using elm::nn::GraphSageConfig;

static_assert(elm::nn::is_layer_v<GraphSage<float>>, "GraphSage keeps the layer contract");
static_assert(elm::nn::has_reset_parameters_v<GraphSage<float>>, "GraphSage initialises as SAGEConv");

TEST_CASE("GraphSage averages the messages into each node, apart from the node's own features", "[cnn][graph]") {
  // 1 -> 0, 2 -> 0 twice, 0 -> 0 listed; node 1 receives from 2 only; node 2 receives nothing.
  // Node 0's mean: (x1 + 2 x2 + x0) / 4; node 1's: x2; node 2's: nothing (0).
  const Graph<double> graph(3, {{1, 0}, {2, 0}, {2, 0}, {0, 0}, {2, 1}});
  GraphSage<double> sage(GraphSageConfig{1, 1, true, true});
  sage.neighbour_weight().value << 1;
  sage.root_weight().value << 10;
  sage.bias().value << 0.5;
  Matrix<double> x(1, 3), y;
  x << 1, 2, 3;
  sage.forward(x, graph, y);
  CHECK(y(0, 0) == Approx((2 + 2 * 3 + 1) / 4.0 + 0.5 + 10 * 1));
  CHECK(y(0, 1) == Approx(3 + 0.5 + 10 * 2));
  CHECK(y(0, 2) == Approx(0 + 0.5 + 10 * 3));  // nothing to average: W_l 0 + b + W_r x
}

TEMPLATE_TEST_CASE("GraphSage matches torch_geometric's SAGEConv(aggr='mean'): output and every gradient",
                   "[cnn][graph][parity]", float, double) {
  const std::string name =
      GENERATE(as<std::string>{}, "sage_directed_duplicates", "sage_basic_no_root", "sage_undirected_no_bias");
  INFO("fixture " << name);
  const Fixture f = attention_test::load_fixture(name, "graph");
  const Graph<TestType> graph = fixture_graph<TestType>(f);
  GraphSage<TestType> sage(GraphSageConfig{f.dim("in_channels"), f.dim("out_channels"),
                                           f.meta.at("root_weight").get<bool>(), f.meta.at("bias").get<bool>()});
  check_parity<TestType>(sage, f, graph);
}

TEST_CASE("GraphSage gradients agree with central differences", "[cnn][graph][gradcheck]") {
  elm::Rng rng(GENERATE(1u, 2u, 3u));
  // 9 nodes, 20 random edges (self-loops and duplicates allowed), read one way or both
  std::vector<GraphEdge> edges;
  for (int e = 0; e < 20; ++e) edges.push_back({Index(rng.next_u64() % 9), Index(rng.next_u64() % 9)});
  const Graph<double> graph(9, edges, GENERATE(EdgeDirection::directed, EdgeDirection::undirected));
  const bool root = GENERATE(true, false);
  GraphSage<double> sage(GraphSageConfig{4, 3, root, true}, rng);
  check_gradients(sage, random_matrix(rng, 4, 9), graph, rng);
}

TEST_CASE("GraphSage on a graph without edges is a linear layer of the node's own features", "[cnn][graph]") {
  // the no-graph baseline of elm-graph brown-words rests on this
  elm::Rng rng(4);
  GraphSage<double> sage(GraphSageConfig{5, 3}, rng);
  elm::nn::Linear<double> linear(5, 3, true);
  linear.weight().value = sage.root_weight().value;
  linear.bias().value = sage.bias().value;
  const Matrix<double> x = random_matrix(rng, 5, 7);
  Matrix<double> y_sage, y_linear;
  sage.forward(x, Graph<double>(7, {}), y_sage);
  linear.forward(x, y_linear);
  CHECK((y_sage - y_linear).cwiseAbs().maxCoeff() < 1e-14);
}

TEST_CASE("GraphSage rejects bad input with clear errors", "[cnn][graph][errors]") {
  const Graph<float> graph(5, {{0, 1}, {1, 2}, {3, 4}}, EdgeDirection::undirected);
  GraphSage<float> sage(GraphSageConfig{3, 2});
  Matrix<float> y, dx;
  CHECK_THAT(error_message<elm::ShapeError>([&] { sage.forward(Matrix<float>::Zero(3, 4), graph, y); }),
             Contains("elm::nn::GraphSage::forward") && Contains("x has 4 columns") &&
                 Contains("one per node of the graph, 5"));
  CHECK_THAT(error_message<elm::ShapeError>([&] { sage.forward(Matrix<float>::Zero(2, 5), graph, y); }),
             Contains("x has 2 rows") && Contains("expected in_channels = 3"));
  GraphSage<float>::Cache cache;
  CHECK_THAT(error_message<elm::InvalidArgument>([&] { sage.backward(cache, Matrix<float>::Zero(2, 5), dx); }),
             Contains("the cache holds no forward"));
  sage.forward(Matrix<float>::Zero(3, 5), graph, y, &cache);
  CHECK_THROWS_AS(sage.backward(cache, Matrix<float>::Zero(3, 5), dx), elm::ShapeError);
  CHECK_THROWS_AS(GraphSage<float>(GraphSageConfig{3, 0}), elm::InvalidArgument);
}

TEST_CASE("elm-graph brown-words trains both networks beside themselves without edges", "[cnn][graph][cli]") {
  elm_test::require_program("elm-graph");
  // a few steps only: the accuracies are docs/nn/graph.md's; this checks the program's path and its report
  const auto [out, code] = elm_test::run_program(
      "elm-graph", "brown-words --epochs 3 --hidden 8 --quiet --corpus '" + std::string(ELM_SOURCE_DIR) +
                       "/examples/data/brown'");
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Contains("14094 words occurring >= 5 times") && Contains("gcn: held-out accuracy") &&
                      Contains("order: held-out accuracy") && Contains("without edges"));
  const auto [bad, bad_code] = elm_test::run_program("elm-graph", "brown-words --networks sage");
  CHECK(bad_code != 0);
  CHECK_THAT(bad, Contains("--networks"));
}
