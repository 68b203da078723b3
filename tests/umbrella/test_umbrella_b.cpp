// SPDX-License-Identifier: MIT
// The second translation unit of the umbrella link check.
#include <elm/elm.hpp>

int umbrella_b_value() { return ELM_VERSION_MAJOR * 100 + ELM_VERSION_MINOR; }
