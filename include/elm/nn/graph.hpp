// SPDX-License-Identifier: MIT
// Graph: a graph's nodes and weighted edges with its GCN-normalised adjacency and its neighbour-mean matrix, built
// once from an edge list; graph_gather, the sparse product every graph layer runs.
#pragma once

#include <Eigen/SparseCore>

#include <algorithm>
#include <cmath>
#include <string_view>
#include <type_traits>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"

namespace elm::nn {

/// One edge from node `source` to node `target` (ids in [0, N)), with a weight (1 when the graph is unweighted).
struct GraphEdge {
  Index source = 0;
  Index target = 0;
  double weight = 1.0;
};

/// How an edge list is read: as PyTorch Geometric's edge_index (each edge carries messages from source to target
/// only) or undirected (each edge (u, v), u != v, stands for both (u, v) and (v, u), with the same weight).
enum class EdgeDirection { directed, undirected };

/// A graph of N nodes and the GCN propagation matrix of Kipf and Welling (2017), the normalisation of PyTorch
/// Geometric's gcn_norm (GCNConv's defaults: add_self_loops=True, improved=False, flow source_to_target):
///   A_hat = D^-1/2 (A + I) D^-1/2,  A[t, s] = the summed weight of the edges s -> t,  D[t, t] = sum_s (A + I)[t, s].
/// What PyTorch Geometric does, and so this class, with edges it does not expect:
///  - duplicate edges add up (GCNConv scatter-adds every edge_index column; its degree counts each);
///  - self-loops: every node gets exactly one (add_remaining_self_loops): a node with a self-loop in the list keeps
///    that loop's weight (the last one listed, when there are several), every other node gets a loop of weight 1;
///  - a node with no edges has only its loop: A_hat[i, i] = 1.
/// For GraphSAGE's mean aggregator (PyTorch Geometric's SAGEConv, aggr="mean") it also holds the mean matrix
///   M[t, s] = (the number of times s -> t is listed) / (the number of edges listed into t),
/// which takes the edge list as it is: a listed self-loop is one more message from the node itself, a duplicate
/// counts twice, the weights play no part, and a node with no edge into it gets the zero vector.
/// The matrices are kept transposed, S = A_hat^T as an (N, N) column-major sparse matrix, because node features are
/// the columns of a (C, N) matrix: propagating is Y = H S (column t of Y gathers column t of S), and backward's
/// dH = dY S^T gathers the columns of S^T, kept too. Building costs O(E log E) time and O(N + E) memory.
/// Throws InvalidArgument for N < 1, an edge naming a node outside [0, N) (the edge's index and ends in the
/// message), or a weight that is negative or not finite (its square-root normalisation would be NaN).
template <typename Scalar = float>
class Graph {
  static_assert(std::is_floating_point_v<Scalar>, "Graph needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  using SparseMatrix = Eigen::SparseMatrix<Scalar, Eigen::ColMajor, Index>;

  Graph(Index num_nodes, const std::vector<GraphEdge>& edges, EdgeDirection direction = EdgeDirection::directed)
      : num_nodes_(num_nodes), num_input_edges_(to_index(edges.size())) {
    constexpr std::string_view where = "elm::nn::Graph";
    ELM_EXPECT(num_nodes >= 1, InvalidArgument, where, ": expected at least one node, got ", num_nodes);
    // 1) the edges as triplets (source, target, weight), self-loops set aside (each node gets one in step 2)
    std::vector<double> loop(static_cast<std::size_t>(num_nodes), 1.0);
    std::vector<Index> listed_loops(static_cast<std::size_t>(num_nodes), 0);
    std::vector<Eigen::Triplet<double, Index>> links;
    links.reserve(edges.size() * (direction == EdgeDirection::undirected ? 2 : 1) +
                  static_cast<std::size_t>(num_nodes));
    for (std::size_t e = 0; e < edges.size(); ++e) {
      const GraphEdge& edge = edges[e];
      ELM_EXPECT(edge.source >= 0 && edge.source < num_nodes && edge.target >= 0 && edge.target < num_nodes,
                 InvalidArgument, where, ": edge ", e, " (", edge.source, " -> ", edge.target, ") names node ",
                 edge.source >= 0 && edge.source < num_nodes ? edge.target : edge.source, ", expected node ids in [0, ",
                 num_nodes, ") for a graph of ", num_nodes, " nodes");
      ELM_EXPECT(std::isfinite(edge.weight) && edge.weight >= 0.0, InvalidArgument, where, ": edge ", e, " (",
                 edge.source, " -> ", edge.target, ") has weight ", edge.weight, ", expected a finite weight >= 0");
      if (edge.source == edge.target) {
        loop[static_cast<std::size_t>(edge.source)] = edge.weight;
        listed_loops[static_cast<std::size_t>(edge.source)] += 1;
        continue;
      }
      links.emplace_back(edge.source, edge.target, edge.weight);
      if (direction == EdgeDirection::undirected) links.emplace_back(edge.target, edge.source, edge.weight);
    }
    // 2) one self-loop per node, then the in-degrees D[t, t] (the sum over the edges into t, its loop included)
    for (Index i = 0; i < num_nodes; ++i) links.emplace_back(i, i, loop[static_cast<std::size_t>(i)]);
    std::vector<double> degree(static_cast<std::size_t>(num_nodes), 0.0);
    for (const auto& l : links) degree[static_cast<std::size_t>(l.col())] += l.value();
    // 3) S[s, t] = w(s -> t) / sqrt(D[s, s] D[t, t]); a zero degree (every weight into t zero) gives 0, as
    //    gcn_norm's masked_fill of the infinite inverse square root does
    auto inv_sqrt = [&](Index i) {
      const double d = degree[static_cast<std::size_t>(i)];
      return d > 0.0 ? 1.0 / std::sqrt(d) : 0.0;
    };
    std::vector<Eigen::Triplet<Scalar, Index>> normalised;
    normalised.reserve(links.size());
    for (const auto& l : links)
      normalised.emplace_back(l.row(), l.col(), static_cast<Scalar>(inv_sqrt(l.row()) * l.value() * inv_sqrt(l.col())));
    propagation_.resize(num_nodes, num_nodes);
    propagation_.setFromTriplets(normalised.begin(), normalised.end());  // duplicates add up
    // 4) for attention (GATConv): how many times each edge s -> t is listed, the listed self-loops replaced by
    //    one per node (remove_self_loops, then add_self_loops), weights ignored
    std::vector<Eigen::Triplet<Scalar, Index>> counted;
    counted.reserve(links.size());
    for (std::size_t k = 0; k < links.size(); ++k) counted.emplace_back(links[k].row(), links[k].col(), Scalar(1));
    multiplicity_.resize(num_nodes, num_nodes);
    multiplicity_.setFromTriplets(counted.begin(), counted.end());
    multiplicity_.makeCompressed();
    // 5) SAGEConv's mean: the edges as listed (one message per listing, self-loops included), each column t
    //    divided by the number of messages into t
    std::vector<Eigen::Triplet<Scalar, Index>> messages;
    std::vector<double> in_count(static_cast<std::size_t>(num_nodes), 0.0);
    messages.reserve(links.size());
    for (std::size_t k = 0; k + static_cast<std::size_t>(num_nodes) < links.size(); ++k) {
      messages.emplace_back(links[k].row(), links[k].col(), Scalar(1));
      in_count[static_cast<std::size_t>(links[k].col())] += 1.0;
    }
    for (Index i = 0; i < num_nodes; ++i)
      if (const Index n = listed_loops[static_cast<std::size_t>(i)]; n > 0) {
        messages.emplace_back(i, i, static_cast<Scalar>(n));
        in_count[static_cast<std::size_t>(i)] += double(n);
      }
    for (auto& m : messages)
      m = Eigen::Triplet<Scalar, Index>(m.row(), m.col(),
                                        static_cast<Scalar>(double(m.value()) / in_count[static_cast<std::size_t>(m.col())]));
    mean_.resize(num_nodes, num_nodes);
    mean_.setFromTriplets(messages.begin(), messages.end());  // duplicates add up
    mean_.makeCompressed();
    mean_transposed_ = mean_.transpose();
    mean_transposed_.makeCompressed();
    propagation_transposed_ = propagation_.transpose();
    propagation_.makeCompressed();
    propagation_transposed_.makeCompressed();
  }

  /// N, the number of nodes.
  Index num_nodes() const { return num_nodes_; }
  /// The number of edges given to the constructor (before self-loops and the undirected reading).
  Index num_input_edges() const { return num_input_edges_; }
  /// Nonzeros of A_hat: distinct (source, target) pairs, self-loops and both directions of undirected edges included.
  Index num_entries() const { return propagation_.nonZeros(); }
  /// S = A_hat^T, (N, N): S(s, t) is the weight with which node s's features reach node t.
  const SparseMatrix& propagation() const { return propagation_; }
  /// S^T = A_hat, (N, N): backward's gather.
  const SparseMatrix& propagation_transposed() const { return propagation_transposed_; }
  /// (N, N), column t holding the sources of the edges into t: how many times the edge list names s -> t (s != t),
  /// and 1 on the diagonal (every node's one self-loop). The neighbourhoods GATConv's softmax runs over: a duplicate
  /// edge takes part twice, the weights play no part.
  const SparseMatrix& multiplicity() const { return multiplicity_; }
  /// M^T, (N, N): column t holds 1/k at each source of the k messages into t (a source listed twice, 2/k), and
  /// nothing for a node no edge reaches. For features X (C, N), X M^T's column t is the mean of the features sent
  /// to t.
  const SparseMatrix& mean() const { return mean_; }
  /// M, (N, N): backward's gather.
  const SparseMatrix& mean_transposed() const { return mean_transposed_; }

 private:
  Index num_nodes_ = 0;
  Index num_input_edges_ = 0;
  SparseMatrix propagation_;
  SparseMatrix propagation_transposed_;
  SparseMatrix multiplicity_;
  SparseMatrix mean_;
  SparseMatrix mean_transposed_;
};

namespace detail {

/// A graph layer's input check: x (C, N) must have `in_channels` rows and one column per node of `graph`
/// (ShapeError naming `where`, what was expected and what came).
template <typename Scalar>
void check_node_features(const Eigen::Ref<const Matrix<Scalar>>& x, Index in_channels, const Graph<Scalar>& graph,
                         std::string_view where) {
  ELM_EXPECT(x.rows() == in_channels, ShapeError, where, ": x has ", x.rows(), " rows (channels), expected in_channels = ",
             in_channels);
  ELM_EXPECT(x.cols() == graph.num_nodes(), ShapeError, where, ": x has ", x.cols(),
             " columns, expected one per node of the graph, ", graph.num_nodes());
}

/// y[:, t] = bias + sum over column t of s of s(k, t) h[:, k]: the product h s of a dense (C, N) and a sparse (N, N)
/// matrix, every graph layer's propagation. Each output column reads whole contiguous columns of h; the columns run
/// on OpenMP threads in chunks of about parallel_grain multiply-adds. bias: C values or null.
template <typename Scalar, typename Sparse>
void graph_gather(const Eigen::Ref<const Matrix<Scalar>>& h, const Sparse& s, const Scalar* bias, Matrix<Scalar>& y) {
  y.resize(h.rows(), s.cols());
  const Index per_column = h.rows() * std::max<Index>(1, s.nonZeros() / std::max<Index>(1, s.cols()));
  elm::detail::parallel_chunks(s.cols(), elm::detail::column_chunk(per_column), [&](Index, Index c0, Index c1) {
    for (Index t = c0; t < c1; ++t) {
      auto out = y.col(t);
      if (bias)
        out = Eigen::Map<const Vector<Scalar>>(bias, h.rows());
      else
        out.setZero();
      for (typename Sparse::InnerIterator it(s, t); it; ++it) out.noalias() += it.value() * h.col(it.row());
    }
  });
}

}  // namespace detail

}  // namespace elm::nn
