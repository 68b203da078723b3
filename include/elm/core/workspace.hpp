// SPDX-License-Identifier: MIT
// Workspace: memory a layer keeps from one call to the next, which copies of the layer do not copy.
#pragma once

namespace elm::detail {

/// Buffers a layer reuses between calls, so that a training loop neither allocates nor faults in large
/// buffers on every step (allocated afresh, they go back to the system when freed and are faulted in again,
/// a visible share of a recurrent or Transformer training step: docs/benchmarks.md, "Design measurements").
/// Nothing in them is read from one call to the next, so a copy of the layer starts with an empty workspace
/// rather than copying the buffers; a move takes them along.
template <typename T>
class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) {}
  Workspace& operator=(const Workspace&) { return *this; }
  Workspace(Workspace&&) noexcept = default;
  Workspace& operator=(Workspace&&) noexcept = default;
  ~Workspace() = default;

  T& operator*() noexcept { return value_; }
  T* operator->() noexcept { return &value_; }

 private:
  T value_{};
};

}  // namespace elm::detail
