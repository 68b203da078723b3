// docs/snippets/nn_graph.cpp
#include <cstdio>
#include <string>

#include "elm/nn/graph.hpp"
#include "elm/nn/graph_convolution.hpp"

int main() {
  namespace nn = elm::nn;
  // A path 0 - 1 - 2 - 3 and an isolated node 4, each edge listed once and read both ways.
  const nn::Graph<float> graph(5, {{0, 1}, {1, 2}, {2, 3}}, nn::EdgeDirection::undirected);
  // A_hat = D^-1/2 (A + I) D^-1/2: 3 edges both ways + 5 self-loops
  std::printf("nodes %lld, entries of A_hat %lld\n", static_cast<long long>(graph.num_nodes()),
              static_cast<long long>(graph.num_entries()));
  std::printf("A_hat[1, 0] = %.4f (1 / sqrt(2 * 3)), A_hat[4, 4] = %.4f\n", double(graph.propagation().coeff(0, 1)),
              double(graph.propagation().coeff(4, 4)));

  elm::Rng rng(1);
  nn::GraphConvolution<float> gcn({3, 2}, rng);  // GCNConv(3, 2): lin.weight (2, 3), bias (2)
  elm::Matrix<float> x(3, 5);                    // node features: one column per node
  rng.fill_normal(x, 0.0, 1.0);
  nn::GraphConvolution<float>::Cache cache;
  elm::Matrix<float> y, dx;
  gcn.forward(x, graph, y, &cache);              // y = (W x) A_hat^T + b: (2, 5)
  gcn.zero_grad();
  gcn.backward(cache, elm::Matrix<float>::Ones(2, 5), dx);  // d sum(y) / d x, and the parameters' gradients
  std::printf("y %lldx%lld, dx %lldx%lld\n", static_cast<long long>(y.rows()), static_cast<long long>(y.cols()),
              static_cast<long long>(dx.rows()), static_cast<long long>(dx.cols()));
  gcn.for_each_parameter("conv", [](const std::string& name, const nn::Parameter<float>& p) {
    std::printf("%s (%lld values)\n", name.c_str(), static_cast<long long>(p.numel()));
  });
  // the bias gradient of sum(y) counts the nodes
  std::printf("grad of bias: %.1f %.1f\n", double(gcn.bias().grad(0, 0)), double(gcn.bias().grad(1, 0)));
}
