// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "graph_fixture.hpp"
#include "elm/nn/graph.hpp"
#include "elm/nn/graph_attention.hpp"

using namespace cnn_test;
using Catch::Matchers::Contains;
using elm::nn::EdgeDirection;
using elm::nn::Graph;
using elm::nn::GraphAttention;
using elm::nn::GraphAttentionConfig;
using elm::nn::GraphEdge;

static_assert(elm::nn::is_layer_v<GraphAttention<float>>, "GraphAttention keeps the layer contract");
static_assert(elm::nn::has_reset_parameters_v<GraphAttention<float>>, "GraphAttention initialises as GATConv");

TEST_CASE("GraphAttention on a hand-sized star: the attention weights are a softmax of the scores",
          "[cnn][graph][attention]") {
  // Edges 1 -> 0 and 2 -> 0, one channel, one head, W = 1, att_src = 1, att_dst = 0, slope 0.2, no bias.
  // Node 0 attends to 0, 1, 2 (its self-loop included) with scores LeakyReLU(x_j): x = (1, 2, -1) gives
  // e = (1, 2, -0.2), alpha = softmax(e), y_0 = sum alpha_j x_j; nodes 1 and 2 see only themselves: y = x.
  const Graph<double> graph(3, {{1, 0}, {2, 0}});
  GraphAttention<double> gat(GraphAttentionConfig{1, 1, 1, true, 0.2, false});
  gat.for_each_parameter("", [](const std::string& name, elm::nn::Parameter<double>& p) {
    p.value.setConstant(name == "att_dst" ? 0.0 : 1.0);
  });
  Matrix<double> x(1, 3), y;
  x << 1, 2, -1;
  gat.forward(x, graph, y);
  const double e0 = std::exp(1.0), e1 = std::exp(2.0), e2 = std::exp(-0.2);
  CHECK(y(0, 0) == Approx((e0 * 1 + e1 * 2 + e2 * -1) / (e0 + e1 + e2)));
  CHECK(y(0, 1) == Approx(2.0));
  CHECK(y(0, 2) == Approx(-1.0));
}

TEMPLATE_TEST_CASE("GraphAttention matches torch_geometric's GATConv: output and every gradient",
                   "[cnn][graph][attention][parity]", float, double) {
  const std::string name = GENERATE(as<std::string>{}, "gat_concat_directed", "gat_mean_undirected", "gat_one_head");
  INFO("fixture " << name);
  const Fixture f = attention_test::load_fixture(name, "graph");
  const Graph<TestType> graph = fixture_graph<TestType>(f);
  GraphAttention<TestType> gat(GraphAttentionConfig{f.dim("in_channels"), f.dim("out_channels"), f.dim("heads"),
                                                    f.meta.at("concat").get<bool>(), 0.2,
                                                    f.meta.at("bias").get<bool>()});
  check_parity<TestType>(gat, f, graph);
}

TEST_CASE("GraphAttention gradients agree with central differences", "[cnn][graph][attention][gradcheck]") {
  elm::Rng rng(GENERATE(1u, 2u));
  std::vector<GraphEdge> edges;  // 8 nodes, 16 random edges: duplicates and self-loops allowed
  for (int e = 0; e < 16; ++e) edges.push_back({Index(rng.next_u64() % 8), Index(rng.next_u64() % 8)});
  const Graph<double> graph(8, edges, GENERATE(EdgeDirection::directed, EdgeDirection::undirected));
  const bool concat = GENERATE(true, false);
  GraphAttention<double> gat(GraphAttentionConfig{3, 2, 3, concat, 0.2, true}, rng);
  gat.for_each_parameter("", [&](const std::string&, elm::nn::Parameter<double>& p) {
    p.value = random_matrix(rng, p.value.rows(), p.value.cols());  // GATConv starts from a zero bias
  });
  check_gradients(gat, random_matrix(rng, 3, 8), graph, rng);
}

TEST_CASE("GraphAttention rejects bad input with clear errors", "[cnn][graph][attention][errors]") {
  const Graph<float> graph(4, {{0, 1}, {1, 2}}, EdgeDirection::undirected);
  GraphAttention<float> gat(GraphAttentionConfig{3, 2, 2});
  Matrix<float> y;
  CHECK_THAT(error_message<elm::ShapeError>([&] { gat.forward(Matrix<float>::Zero(3, 5), graph, y); }),
             Contains("elm::nn::GraphAttention::forward") && Contains("x has 5 columns") &&
                 Contains("one per node of the graph, 4"));
  CHECK_THAT(error_message<elm::ShapeError>([&] { gat.forward(Matrix<float>::Zero(4, 4), graph, y); }),
             Contains("x has 4 rows") && Contains("expected in_channels = 3"));
  CHECK_THROWS_AS(GraphAttention<float>(GraphAttentionConfig{3, 2, 0}), elm::InvalidArgument);
  CHECK_THROWS_AS(GraphAttention<float>(GraphAttentionConfig{3, 2, 1, true, -0.1}), elm::InvalidArgument);
}
