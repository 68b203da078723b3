// SPDX-License-Identifier: MIT
// Which matrix-product kernel the dense, recurrent and attention layers use: chosen once at run time from what
// the CPU supports, overridable by the ELM_PRODUCT_KERNEL environment variable or set_product_kernel.
#pragma once

#include <atomic>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/nn/detail/amx.hpp"
#include "elm/nn/detail/simd.hpp"

namespace elm::nn {

/// The product kernels, narrowest first.
/// - reference: Eigen's own products everywhere (the plain path that every fast one is tested against);
/// - generic: elm's packed kernel in the instruction set the program is compiled for (SSE2 in a plain x86-64
///   build; whatever -march allows otherwise);
/// - avx2: the packed kernel compiled for AVX2 + FMA, whatever the program's flags (x86-64, GCC or Clang);
/// - avx512: the packed kernel compiled for AVX-512F, likewise.
enum class ProductKernel { reference, generic, avx2, avx512 };

/// "reference", "generic", "avx2" or "avx512".
inline std::string_view product_kernel_name(ProductKernel kernel) {
  switch (kernel) {
    case ProductKernel::reference: return "reference";
    case ProductKernel::generic: return "generic";
    case ProductKernel::avx2: return "avx2";
    case ProductKernel::avx512: return "avx512";
  }
  return "unknown";
}

/// Whether this build has the kernel and this CPU can run it (reference and generic: always).
inline bool product_kernel_supported(ProductKernel kernel) {
  switch (kernel) {
    case ProductKernel::reference:
    case ProductKernel::generic: return true;
#if ELM_X86_KERNELS
    case ProductKernel::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case ProductKernel::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    case ProductKernel::avx2:
    case ProductKernel::avx512: return false;
#endif
  }
  return false;
}

/// Every kernel that product_kernel_supported accepts, narrowest first.
inline std::vector<ProductKernel> supported_product_kernels() {
  std::vector<ProductKernel> kernels;
  for (ProductKernel k : {ProductKernel::reference, ProductKernel::generic, ProductKernel::avx2, ProductKernel::avx512})
    if (product_kernel_supported(k)) kernels.push_back(k);
  return kernels;
}

/// Parses a kernel name as product_kernel_name writes it. Throws InvalidArgument for any other.
inline ProductKernel parse_product_kernel(std::string_view name) {
  for (ProductKernel k : {ProductKernel::reference, ProductKernel::generic, ProductKernel::avx2, ProductKernel::avx512})
    if (name == product_kernel_name(k)) return k;
  throw InvalidArgument(elm::detail::concat("elm::nn::parse_product_kernel: unknown kernel \"", name,
                                            "\", expected one of reference, generic, avx2, avx512"));
}

/// Whether `kernel` uses wider vector instructions than the program is compiled for: AVX2 or AVX-512 in a build
/// without -mavx2 -mfma or -mavx512f, such as a plain x86-64 Release build, whose Eigen products are SSE2. The
/// packed kernel then outruns Eigen's products at all but the smallest shapes, which the layers' routing uses.
inline bool product_kernel_wider_than_build(ProductKernel kernel) {
  switch (kernel) {
    case ProductKernel::avx512:
#if defined(__AVX512F__)
      return false;
#else
      return true;
#endif
    case ProductKernel::avx2:
#if defined(__AVX2__) && defined(__FMA__)
      return false;
#else
      return true;
#endif
    case ProductKernel::reference:
    case ProductKernel::generic: return false;
  }
  return false;
}

namespace detail {

/// The kernel in force, as an int (-1: not chosen yet). An atomic so that threads may read it while another
/// sets it; products read it once per call.
inline std::atomic<int>& product_kernel_slot() {
  static std::atomic<int> slot{-1};
  return slot;
}

/// The widest supported kernel, or the one ELM_PRODUCT_KERNEL names (narrower ones only make sense there: a
/// wider one than the CPU has is refused rather than run into an illegal instruction).
inline ProductKernel default_product_kernel() {
  if (const char* env = std::getenv("ELM_PRODUCT_KERNEL"); env && *env) {
    const ProductKernel k = parse_product_kernel(env);
    ELM_EXPECT(product_kernel_supported(k), InvalidArgument, "elm::nn::product_kernel: ELM_PRODUCT_KERNEL=", env,
               " is not supported by this build or CPU, expected one of reference, generic",
               product_kernel_supported(ProductKernel::avx2) ? ", avx2" : "",
               product_kernel_supported(ProductKernel::avx512) ? ", avx512" : "");
    return k;
  }
  if (product_kernel_supported(ProductKernel::avx512)) return ProductKernel::avx512;
  if (product_kernel_supported(ProductKernel::avx2)) return ProductKernel::avx2;
  return ProductKernel::generic;
}

}  // namespace detail

/// The kernel the layers' products use: on first use, the widest this build and CPU support, or the one the
/// environment variable ELM_PRODUCT_KERNEL names (reference, generic, avx2, avx512). Throws InvalidArgument when
/// that variable names an unknown or unsupported kernel.
inline ProductKernel product_kernel() {
  std::atomic<int>& slot = detail::product_kernel_slot();
  int k = slot.load(std::memory_order_relaxed);
  if (k < 0) {
    k = static_cast<int>(detail::default_product_kernel());
    int unset = -1;
    if (!slot.compare_exchange_strong(unset, k)) k = unset;  // another thread chose first: the same choice
  }
  return static_cast<ProductKernel>(k);
}

/// Makes every later product use `kernel` (all threads; not while a product runs). Throws InvalidArgument if
/// this build or CPU does not support it.
inline void set_product_kernel(ProductKernel kernel) {
  ELM_EXPECT(product_kernel_supported(kernel), InvalidArgument, "elm::nn::set_product_kernel: kernel ",
             product_kernel_name(kernel), " is not supported by this build or CPU");
  detail::product_kernel_slot().store(static_cast<int>(kernel), std::memory_order_relaxed);
}

/// Sets a kernel for the lifetime of the object and restores the previous one after (tests comparing kernels,
/// or a program section that must run the reference path). Not for use while another thread runs products.
class ScopedProductKernel {
 public:
  /// Throws InvalidArgument if this build or CPU does not support `kernel`.
  explicit ScopedProductKernel(ProductKernel kernel) : previous_(product_kernel()) { set_product_kernel(kernel); }
  ScopedProductKernel(const ScopedProductKernel&) = delete;
  ScopedProductKernel& operator=(const ScopedProductKernel&) = delete;
  ~ScopedProductKernel() { detail::product_kernel_slot().store(static_cast<int>(previous_)); }

 private:
  ProductKernel previous_;
};

/// Whether weights kept in bf16 or int8 (QuantizedWeights) may multiply a prompt's activations on AMX tiles
/// (detail/amx_product.hpp): this build has the tile kernels and the CPU, the OS and the process allow them.
inline bool amx_products_supported() { return detail::amx_usable(); }

namespace detail {

/// Whether the tile products are on, as an int (-1: not decided yet).
inline std::atomic<int>& amx_products_slot() {
  static std::atomic<int> slot{-1};
  return slot;
}

}  // namespace detail

/// Whether bf16 and int8 prompts run on AMX tiles when the AVX-512 kernel is in force: on by default where
/// supported (amx_products_supported); the environment variable ELM_AMX=0 turns them off for the process (the
/// AVX-512 paths then serve: VNNI integer products for int8, float panels for bf16). Their activations are
/// rounded to bf16, or quantized to int8 blocks, as the tile units multiply them.
inline bool amx_products_enabled() {
  std::atomic<int>& slot = detail::amx_products_slot();
  int on = slot.load(std::memory_order_relaxed);
  if (on < 0) {
    const char* env = std::getenv("ELM_AMX");
    on = amx_products_supported() && !(env && std::string_view(env) == "0") ? 1 : 0;
    int unset = -1;
    if (!slot.compare_exchange_strong(unset, on)) on = unset;
  }
  return on == 1;
}

/// Turns the tile products on or off for every later product (all threads; not while a product runs). Throws
/// InvalidArgument when turning them on where they are not supported.
inline void set_amx_products(bool on) {
  ELM_EXPECT(!on || amx_products_supported(), InvalidArgument,
             "elm::nn::set_amx_products: AMX tiles are not supported by this build, CPU or OS");
  detail::amx_products_slot().store(on ? 1 : 0, std::memory_order_relaxed);
}

/// Sets the tile products on or off for the lifetime of the object and restores the previous setting after
/// (tests comparing the paths). Not for use while another thread runs products.
class ScopedAmxProducts {
 public:
  /// Throws InvalidArgument when turning them on where they are not supported.
  explicit ScopedAmxProducts(bool on) : previous_(amx_products_enabled()) { set_amx_products(on); }
  ScopedAmxProducts(const ScopedAmxProducts&) = delete;
  ScopedAmxProducts& operator=(const ScopedAmxProducts&) = delete;
  ~ScopedAmxProducts() { detail::amx_products_slot().store(previous_ ? 1 : 0); }

 private:
  bool previous_;
};

}  // namespace elm::nn
