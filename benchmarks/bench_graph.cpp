// SPDX-License-Identifier: MIT
// The graph convolution against PyTorch Geometric's GCNConv in the same run: forward + backward (the input's
// gradient and the parameters') of GCNConv(F -> 64) on the Brown word graph of elm-graph brown-words (the 450
// training files: 14,094 words, 140,373 undirected edges, F = 587 features; examples/common/brown_words.hpp).
//
// The benchmark builds the graph, writes its edge list to a temporary file and starts PyTorch first, in a child
// python3 process with torch.set_num_threads(ELM_BENCH_TORCH_THREADS, default 1) on the same edges, weights and
// sizes; its median times become the counters torch_ms and ratio (elm time / PyTorch time: below 1 means elm is
// faster). GCNConv runs with cached=True, so the normalised adjacency is computed once, as elm's Graph is. Without
// torch_geometric the peer is the same formula written with torch.sparse (the counter peer_is_pyg says which).
// Set ELM_BENCH_TORCH=0 to skip it. ELM_BROWN_DIR names the corpus folder (default examples/data/brown of the
// source tree). elm runs on one thread unless the build enables OpenMP.
#include <benchmark/benchmark.h>

#include "python_peer.hpp"

#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../examples/common/brown_words.hpp"
#include "elm/classic/pos_tagger.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/graph.hpp"
#include "elm/nn/graph_convolution.hpp"

namespace {

using elm::Index;
using elm::Matrix;
namespace nn = elm::nn;

constexpr Index out_channels = 64;

struct WordGraphInput {
  Index nodes = 0, features = 0;
  std::vector<nn::GraphEdge> edges;
};

const WordGraphInput& word_graph() {
  static const WordGraphInput input = [] {
    const char* dir = std::getenv("ELM_BROWN_DIR");
    auto files = elm::examples::read_brown_files(dir ? dir : ELM_SOURCE_DIR "/examples/data/brown", "elm-bench-graph");
    std::vector<std::pair<std::string, std::string>> training;
    for (std::size_t i = 0; i < files.size(); ++i)
      if (!elm::classic::brown_held_out(elm::to_index(i))) training.push_back(std::move(files[i]));
    const auto g = elm::examples::brown_word_graph(training);
    return WordGraphInput{elm::to_index(g.words.size()), g.features.rows(), g.edges};
  }();
  return input;
}

struct PeerTime {
  double wall_ms = 0, cpu_ms = 0;
  bool pyg = false;
};
PeerTime& torch_time() {
  static PeerTime t;
  return t;
}

constexpr const char* torch_script = R"PY(
import os, sys, time, statistics, torch
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "elm_bench_graph_edges.txt")) as f:
    n, feats, out = (int(v) for v in f.readline().split())
    rows = [line.split() for line in f]
src = torch.tensor([int(r[0]) for r in rows]); dst = torch.tensor([int(r[1]) for r in rows])
w = torch.tensor([float(r[2]) for r in rows], dtype=torch.float32)
edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])  # undirected: both directions
edge_weight = torch.cat([w, w])
x = torch.randn(n, feats, requires_grad=True)
try:
    from torch_geometric.nn import GCNConv
    conv = GCNConv(feats, out, cached=True)
    step = lambda: conv(x, edge_index, edge_weight)
    pyg = 1
except ImportError:
    from_adj = torch.sparse_coo_tensor(edge_index.flip(0), edge_weight, (n, n)).coalesce()
    adj = (from_adj + torch.sparse_coo_tensor(torch.arange(n).repeat(2, 1), torch.ones(n), (n, n))).coalesce()
    deg = torch.sparse.sum(adj, 1).to_dense()
    i = adj.indices(); d = deg.pow(-0.5)
    a_hat = torch.sparse_coo_tensor(i, d[i[0]] * adj.values() * d[i[1]], (n, n)).coalesce().to_sparse_csr()
    lin = torch.nn.Linear(feats, out, bias=False); bias = torch.nn.Parameter(torch.zeros(out))
    step = lambda: torch.sparse.mm(a_hat, lin(x)) + bias
    pyg = 0
dy = torch.randn(n, out)
def run():
    step().backward(dy)
run()
ts, cs = [], []
for _ in range(10):
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    ts.append(time.perf_counter() - t0); cs.append(time.process_time() - c0)
print("gcn %g %g %d" % (statistics.median(ts) * 1e3, statistics.median(cs) * 1e3, pyg))
)PY";

void run_torch_peer() {
  const WordGraphInput& g = word_graph();
  {
    std::ofstream out(std::filesystem::temp_directory_path() / "elm_bench_graph_edges.txt");
    out << g.nodes << ' ' << g.features << ' ' << out_channels << '\n';
    out.precision(9);
    for (const nn::GraphEdge& e : g.edges) out << e.source << ' ' << e.target << ' ' << e.weight << '\n';
  }
  for (const std::string& text : elm_bench::run_python_peer(torch_script, "elm_bench_graph_peer.py")) {
    std::istringstream line(text);
    std::string name;
    PeerTime t;
    int pyg = 0;
    if (line >> name >> t.wall_ms >> t.cpu_ms >> pyg) {
      t.pyg = pyg != 0;
      torch_time() = t;
    }
  }
}

template <typename Scalar>
void BM_GraphConvolutionForwardBackward(benchmark::State& state) {
  const WordGraphInput& input = word_graph();
  const nn::Graph<Scalar> graph(input.nodes, input.edges, nn::EdgeDirection::undirected);
  elm::Rng rng(3);
  nn::GraphConvolution<Scalar> conv({input.features, out_channels}, rng);
  Matrix<Scalar> x(input.features, input.nodes), dy(out_channels, input.nodes), y, dx;
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(dy, 0.0, 1.0);
  typename nn::GraphConvolution<Scalar>::Cache cache;
  auto step = [&] {
    conv.forward(x, graph, y, &cache);
    conv.backward(cache, dy, dx);
    benchmark::DoNotOptimize(dx.data());
  };
  step();  // untimed warm-up, as the PyTorch peer's
  const std::clock_t cpu_start = std::clock();
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * input.nodes);
  state.counters["nodes"] = double(input.nodes);
  state.counters["entries"] = double(graph.num_entries());
  const double elm_cpu_ms = 1e3 * double(std::clock() - cpu_start) / CLOCKS_PER_SEC / double(state.iterations());
  const PeerTime& t = torch_time();
  if (t.wall_ms > 0) {
    state.counters["torch_ms"] = t.wall_ms;
    state.counters["torch_cpu_ms"] = t.cpu_ms;
    state.counters["peer_is_pyg"] = t.pyg ? 1 : 0;
    state.counters["ratio"] = benchmark::Counter(
        t.wall_ms * 1e-3, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["cpu_ratio"] = elm_cpu_ms / t.cpu_ms;
  }
}

}  // namespace

BENCHMARK_TEMPLATE(BM_GraphConvolutionForwardBackward, float)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) { return elm_bench::main_with_peer(argc, argv, run_torch_peer); }
