// SPDX-License-Identifier: MIT
// The graph tests' fixture reader: the Graph a fixture of tools/make_graph_fixtures.py describes.
#pragma once

#include <string>
#include <vector>

#include "cnn_fixture.hpp"
#include "elm/nn/graph.hpp"

namespace cnn_test {

/// The fixture's nodes and edges (meta "num_nodes", "edges": [source, target, weight] each, "direction").
template <typename Scalar>
elm::nn::Graph<Scalar> fixture_graph(const Fixture& f) {
  std::vector<elm::nn::GraphEdge> edges;
  for (const auto& e : f.meta.at("edges"))
    edges.push_back({e.at(0).get<Index>(), e.at(1).get<Index>(), e.at(2).get<double>()});
  const auto direction = f.meta.at("direction").get<std::string>() == "undirected"
                             ? elm::nn::EdgeDirection::undirected
                             : elm::nn::EdgeDirection::directed;
  return elm::nn::Graph<Scalar>(f.dim("num_nodes"), edges, direction);
}

}  // namespace cnn_test
