// SPDX-License-Identifier: MIT
// Umbrella header for users and examples: every public header of elm. Library headers never include it.
#pragma once

#include "elm/version.hpp"

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/math.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"

#include "elm/io/atomic_file.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/hf_config.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/io/safetensors.hpp"

#include "elm/nn/parameter.hpp"

#include "elm/text/utf8.hpp"
