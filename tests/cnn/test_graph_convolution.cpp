// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "../common/run_program.hpp"
#include "graph_fixture.hpp"
#include "elm/nn/graph.hpp"
#include "elm/nn/graph_convolution.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::nn::EdgeDirection;
using elm::nn::Graph;
using elm::nn::GraphConvolution;
using elm::nn::GraphConvolutionConfig;
using elm::nn::GraphEdge;

static_assert(elm::nn::is_layer_v<GraphConvolution<float>>, "GraphConvolution keeps the layer contract");
static_assert(elm::nn::has_reset_parameters_v<GraphConvolution<float>>, "GraphConvolution initialises as GCNConv");

TEST_CASE("GraphConvolution on a hand-sized path of three nodes", "[cnn][graph]") {
  // 0 - 1 - 2 with self-loops: degrees 2, 3, 2, so A_hat = [[1/2, 1/sqrt6, 0], [1/sqrt6, 1/3, 1/sqrt6],
  // [0, 1/sqrt6, 1/2]]; with W = 1, no bias and x = (1, 2, 3): y = A_hat x.
  const Graph<double> graph(3, {{0, 1}, {1, 2}}, EdgeDirection::undirected);
  CHECK(graph.num_entries() == 7);
  GraphConvolution<double> gcn(GraphConvolutionConfig{1, 1, false});
  gcn.weight().value << 1;
  Matrix<double> x(1, 3), y;
  x << 1, 2, 3;
  gcn.forward(x, graph, y);
  const double r6 = 1 / std::sqrt(6.0);
  CHECK(y(0, 0) == Approx(0.5 + 2 * r6));
  CHECK(y(0, 1) == Approx(r6 + 2.0 / 3 + 3 * r6));
  CHECK(y(0, 2) == Approx(2 * r6 + 1.5));
}

TEMPLATE_TEST_CASE("GraphConvolution matches torch_geometric's GCNConv: output and every gradient",
                   "[cnn][graph][parity]", float, double) {
  const std::string name = GENERATE(as<std::string>{}, "gcn_basic", "gcn_directed_duplicates",
                                    "gcn_weighted_undirected", "gcn_weighted_undirected_bias");
  INFO("fixture " << name);
  const Fixture f = attention_test::load_fixture(name, "graph");
  const Graph<TestType> graph = fixture_graph<TestType>(f);
  GraphConvolution<TestType> gcn(
      GraphConvolutionConfig{f.dim("in_channels"), f.dim("out_channels"), f.meta.at("bias").get<bool>()});
  check_parity<TestType>(gcn, f, graph);
}

TEST_CASE("GraphConvolution gradients agree with central differences", "[cnn][graph][gradcheck]") {
  elm::Rng rng(GENERATE(1u, 2u, 3u));
  // a random weighted graph of 9 nodes: 20 edges, self-loops and duplicates allowed, read both ways
  std::vector<GraphEdge> edges;
  for (int e = 0; e < 20; ++e)
    edges.push_back({Index(rng.next_u64() % 9), Index(rng.next_u64() % 9), 0.1 + double(rng.next_u64() % 100) / 25.0});
  const auto direction = GENERATE(EdgeDirection::directed, EdgeDirection::undirected);
  const Graph<double> graph(9, edges, direction);
  SECTION("with bias") {
    GraphConvolution<double> gcn(GraphConvolutionConfig{4, 3, true}, rng);
    gcn.bias().value = random_matrix(rng, 3, 1);  // GCNConv starts from a zero bias
    check_gradients(gcn, random_matrix(rng, 4, 9), graph, rng);
  }
  SECTION("without bias, widening") {
    GraphConvolution<double> gcn(GraphConvolutionConfig{2, 5, false}, rng);
    check_gradients(gcn, random_matrix(rng, 2, 9), graph, rng);
  }
}

TEST_CASE("Graph: an undirected edge list is the list with both directions", "[cnn][graph]") {
  const std::vector<GraphEdge> one_way{{0, 1, 2.0}, {1, 2, 0.5}, {3, 3, 4.0}, {2, 0, 1.0}};
  std::vector<GraphEdge> both_ways;
  for (const GraphEdge& e : one_way) {
    both_ways.push_back(e);
    if (e.source != e.target) both_ways.push_back({e.target, e.source, e.weight});
  }
  const Graph<double> a(5, one_way, EdgeDirection::undirected), b(5, both_ways);
  CHECK(Matrix<double>(a.propagation()) == Matrix<double>(b.propagation()));
  // symmetric, and the isolated node 4 keeps its loop of weight 1 only
  CHECK((Matrix<double>(a.propagation()) - Matrix<double>(a.propagation_transposed())).cwiseAbs().maxCoeff() < 1e-15);
  CHECK(a.propagation().coeff(4, 4) == 1.0);
  // node 3's listed loop of weight 4 replaces the default loop: its only edge, so A_hat[3, 3] = 4 / 4
  CHECK(a.propagation().coeff(3, 3) == Approx(1.0));
  CHECK(a.num_input_edges() == 4);
  CHECK(a.num_entries() == 5 + 6);
}

TEST_CASE("Graph and GraphConvolution reject bad input with clear errors", "[cnn][graph][errors]") {
  SECTION("an edge to a missing node") {
    const std::string m = error_message<elm::InvalidArgument>([] {
      Graph<float>(4, {{0, 1}, {1, 2}, {2, 4}}, EdgeDirection::undirected);
    });
    CHECK_THAT(m, Contains("elm::nn::Graph") && Contains("edge 2 (2 -> 4) names node 4") &&
                      Contains("expected node ids in [0, 4)"));
    CHECK_THROWS_AS(Graph<float>(4, {{-1, 0}}), elm::InvalidArgument);
  }
  SECTION("a negative or non-finite weight, no nodes") {
    CHECK_THAT(error_message<elm::InvalidArgument>([] {
                 Graph<float>(3, {{0, 1, -0.5}});
               }),
               Contains("edge 0 (0 -> 1) has weight -0.5"));
    CHECK_THROWS_AS(Graph<float>(3, {{0, 1, std::nan("")}}), elm::InvalidArgument);
    CHECK_THROWS_AS(Graph<float>(0, {}), elm::InvalidArgument);
  }
  const Graph<float> graph(5, {{0, 1}, {1, 2}, {3, 4}}, EdgeDirection::undirected);
  GraphConvolution<float> gcn(GraphConvolutionConfig{3, 2});
  Matrix<float> y;
  SECTION("features for the wrong number of nodes") {
    CHECK_THAT(error_message<elm::ShapeError>([&] { gcn.forward(Matrix<float>::Zero(3, 4), graph, y); }),
               Contains("elm::nn::GraphConvolution::forward") && Contains("x has 4 columns") &&
                   Contains("one per node of the graph, 5"));
  }
  SECTION("the wrong number of channels") {
    CHECK_THAT(error_message<elm::ShapeError>([&] { gcn.forward(Matrix<float>::Zero(2, 5), graph, y); }),
               Contains("x has 2 rows") && Contains("expected in_channels = 3"));
    GraphConvolution<float>::Cache cache;
    Matrix<float> dx;
    gcn.forward(Matrix<float>::Zero(3, 5), graph, y, &cache);
    CHECK_THROWS_AS(gcn.backward(cache, Matrix<float>::Zero(3, 5), dx), elm::ShapeError);
  }
  SECTION("no channels") {
    CHECK_THROWS_AS(GraphConvolution<float>(GraphConvolutionConfig{0, 2}), elm::InvalidArgument);
  }
}

TEST_CASE("elm-graph karate classifies the club from one labelled member per side", "[cnn][graph][cli]") {
  elm_test::require_program("elm-graph");
  const auto [out, code] = elm_test::run_program(
      "elm-graph", "karate --seeds 3 --quiet --data '" + std::string(ELM_SOURCE_DIR) + "/examples/data/karate'");
  INFO(out);
  REQUIRE(code == 0);
  // the target: at least 90 % of the 32 unlabelled members, for every seed
  const std::string key = "min ";
  const auto at = out.find(key, out.find("3 seeds: mean held-out accuracy"));
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(out.substr(at + key.size())) >= 0.90);
}
