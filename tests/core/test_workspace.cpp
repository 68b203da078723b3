// SPDX-License-Identifier: MIT
// Workspace: a layer's reusable buffers are not copied with the layer, and move with it.
#include <catch2/catch.hpp>

#include <utility>
#include <vector>

#include "elm/core/workspace.hpp"

TEST_CASE("a Workspace is not copied: a copy starts empty, a move takes the buffers", "[core][workspace]") {
  elm::detail::Workspace<std::vector<float>> a;
  a->assign(1000, 1.0f);
  const elm::detail::Workspace<std::vector<float>> copy = a;
  CHECK(const_cast<elm::detail::Workspace<std::vector<float>>&>(copy)->empty());
  elm::detail::Workspace<std::vector<float>> assigned;
  assigned->assign(3, 2.0f);
  assigned = a;  // copy assignment keeps the target's own buffers, untouched
  CHECK(assigned->size() == 3);
  const float* data = a->data();
  elm::detail::Workspace<std::vector<float>> moved = std::move(a);
  CHECK(moved->size() == 1000);
  CHECK(moved->data() == data);
  CHECK((*moved)[999] == 1.0f);
}
