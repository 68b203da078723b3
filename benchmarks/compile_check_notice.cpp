// SPDX-License-Identifier: MIT
// Linked into the benchmarks only when ELM_BENCHMARKS_COMPILE_CHECK builds them unoptimised (the test command's
// check that they compile): says so before any time is printed.
#include <cstdio>

namespace {

const bool notice_printed = [] {
  std::fputs("elm: this benchmark was built with ELM_BENCHMARKS_COMPILE_CHECK (-O1), as a check that it compiles; "
             "its times mean nothing. Build it as docs/benchmarks.md says to time it.\n",
             stderr);
  return true;
}();

}  // namespace
