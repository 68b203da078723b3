// SPDX-License-Identifier: MIT
// Whether AMX tiles (Intel's Advanced Matrix Extensions: eight 1 KB tile registers and a unit that multiplies
// them, bf16 pairs or int8 quads, into float32 or int32 tiles) may run in this process: the CPU has them, the OS
// saves their state, and Linux gave the process the right to use them. Included by elm/nn/product_kernel.hpp.
//
// Why: on the CPUs that have them, one tile product does 16 x 16 x 32 bf16 multiply-adds (or 16 x 16 x 64 int8)
// in about 16 cycles, against 16 float multiply-adds a cycle for each AVX-512 FMA port: the prompt products of
// weights kept in bf16 or int8 run several times faster on them (amx_product.hpp).
#pragma once

#include <cstdint>

#include "elm/nn/detail/simd.hpp"

#if ELM_X86_KERNELS
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

namespace elm::nn::detail {

#if ELM_X86_KERNELS
/// What the tile products need of the CPU: AMX-TILE, AMX-BF16, AMX-INT8, and for the code around them AVX-512
/// F, BW, VNNI and BF16 (CPUID leaf 7), the OS saving the tile configuration and data (XCR0 bits 17 and 18).
inline bool amx_cpu_features() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE: xgetbv usable
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 30)) && (c & (1u << 11));  // F, BW, VNNI
  const bool amx = (d & (1u << 22)) && (d & (1u << 24)) && (d & (1u << 25));      // BF16, TILE, INT8
  if (!avx512 || !amx) return false;
  __cpuid_count(7, 1, a, b, c, d);
  if (!(a & (1u << 5))) return false;  // AVX512_BF16
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const std::uint64_t xcr0 = (std::uint64_t(hi) << 32) | lo;
  const std::uint64_t needed = (1u << 1) | (1u << 2) | (7u << 5) | (3u << 17);  // SSE, AVX, AVX-512, tiles
  return (xcr0 & needed) == needed;
}

/// Asks Linux for the right to use tile data (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA; since Linux
/// 5.16 a process must ask before its first tile instruction, which otherwise kills it). Granted for the whole
/// process, all threads.
inline bool amx_permission() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr long request_permission = 0x1023;  // ARCH_REQ_XCOMP_PERM
  constexpr long tile_data = 18;               // XFEATURE_XTILEDATA
  return syscall(SYS_arch_prctl, request_permission, tile_data) == 0;
#else
  return false;
#endif
}
#endif

/// Whether the tile products may run: the CPU, the OS and the permission, checked once.
inline bool amx_usable() {
#if ELM_X86_KERNELS
  static const bool usable = amx_cpu_features() && amx_permission();
  return usable;
#else
  return false;
#endif
}

}  // namespace elm::nn::detail
