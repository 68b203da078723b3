// SPDX-License-Identifier: MIT
// HugePageAllocator: a std::allocator for large work buffers that asks Linux for transparent huge pages.
//
// Why it exists: a matrix-product kernel streams its packed operands (megabytes) through 4 KB pages, and on a
// machine whose transparent huge pages are set to "madvise" (Debian's default) those pages cost a TLB miss
// every 4 KB. Backing the packed operands with 2 MB pages made the products of a GPT-2-sized Linear layer
// faster (docs/benchmarks.md). Small buffers, and other systems, get memory aligned to a cache line.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#elif defined(_WIN32)
#include <malloc.h>
#endif

namespace elm::detail {

/// Allocates n >= huge_page_bytes / sizeof(T) elements aligned to 2 MB and advises the kernel to back them
/// with huge pages (Linux; a refused advice only costs the speed-up); smaller requests get memory aligned to
/// a cache line. Stateless: any two instances compare equal.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr std::size_t huge_page_bytes = std::size_t(2) << 20;
  /// The alignment of every buffer: a cache line, enough for aligned loads of the widest vectors (AVX-512)
  /// whatever instruction set the program itself is compiled for.
  static constexpr std::size_t vector_alignment = 64;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > (std::size_t(-1) - huge_page_bytes) / sizeof(T)) throw std::bad_alloc();
    const std::size_t bytes = n * sizeof(T);
    // aligned_alloc wants a size that is a multiple of the alignment
    const std::size_t alignment = huge_page_requested(bytes) ? huge_page_bytes : vector_alignment;
    const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
#if defined(_WIN32)
    void* p = _aligned_malloc(rounded, alignment);
#else
    void* p = std::aligned_alloc(alignment, rounded);
#endif
    if (!p) throw std::bad_alloc();
#if defined(__linux__)
    if (alignment == huge_page_bytes) ::madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return static_cast<T*>(p);
  }

  void deallocate(T* p, std::size_t) noexcept {
#if defined(_WIN32)
    _aligned_free(p);
#else
    std::free(p);
#endif
  }

  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const HugePageAllocator<U>&) const noexcept {
    return false;
  }

 private:
  static bool huge_page_requested(std::size_t bytes) {
#if defined(__linux__)
    return bytes >= huge_page_bytes;
#else
    (void)bytes;
    return false;
#endif
  }
};

/// Asks Linux to back the whole 2 MB pages inside [p, p + bytes) with transparent huge pages when they are first
/// touched (madvise MADV_HUGEPAGE; elsewhere, or for a smaller range, nothing). For a large buffer allocated by
/// someone else (an Eigen matrix's storage), called before the buffer is first written: a model's weights,
/// streamed from memory once per decoded token, are read 20 to 25 % faster from 2 MB pages than from 4 KB ones
/// (docs/benchmarks.md, "GPT-2 small"). A refused advice only costs the speed-up.
inline void advise_huge_pages(void* p, std::size_t bytes) noexcept {
#if defined(__linux__)
  constexpr std::size_t huge = HugePageAllocator<char>::huge_page_bytes;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = (begin + huge - 1) / huge * huge, last = (begin + bytes) / huge * huge;
  if (first < last) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)p, (void)bytes;
#endif
}

}  // namespace elm::detail
