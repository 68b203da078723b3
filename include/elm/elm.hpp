// SPDX-License-Identifier: MIT
// Umbrella header for users and examples: every public header of elm. Library headers never include it.
// It is the union of the per-area umbrellas, which a user of one area includes instead to compile only that area.
#pragma once

#include "elm/core.hpp"

#include "elm/classic.hpp"
#include "elm/dist.hpp"
#include "elm/io.hpp"
#include "elm/models.hpp"
#include "elm/nn.hpp"
#include "elm/text.hpp"
#include "elm/train.hpp"
