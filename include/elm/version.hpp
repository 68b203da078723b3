// SPDX-License-Identifier: MIT
// The library's version, as macros and as a constant.
#pragma once

#define ELM_VERSION_MAJOR 0
#define ELM_VERSION_MINOR 1
#define ELM_VERSION_PATCH 0

namespace elm {
inline constexpr const char* version_string = "0.1.0";
}  // namespace elm
