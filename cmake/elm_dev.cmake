# Settings for the project's own targets (tests, examples, benchmarks). Consumers never see them.
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
set(CMAKE_CXX_EXTENSIONS OFF)  # -std=c++17, not gnu++17: no implicit FP contraction, reproducible RNG

find_program(ELM_CCACHE ccache)
if(ELM_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${ELM_CCACHE})
endif()

add_library(elm_dev INTERFACE)
target_link_libraries(elm_dev INTERFACE elm::elm)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(elm_dev INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Woverloaded-virtual -Wdouble-promotion)
  if(ELM_WERROR)
    target_compile_options(elm_dev INTERFACE -Werror)
  endif()
  # The optimisation of the project's own Release targets: -O3 for the demo and the benchmarks; the test command
  # passes -O1 (its tests check results, not speed, and compile in less time).
  set(ELM_DEV_OPTIMIZATION "-O3" CACHE STRING "Optimisation flag of the tests, examples and benchmarks in Release")
  if(CMAKE_BUILD_TYPE STREQUAL "Release")
    target_compile_options(elm_dev INTERFACE ${ELM_DEV_OPTIMIZATION})
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND ELM_DEV_OPTIMIZATION MATCHES "^-O[01g]$")
      # GCC 12 at -O1 reports maybe-uninitialized in Eigen's DenseStorage moves (word2vec's tests), a false
      # positive that the fuller analysis at -O2 and above does not make; the sanitizer build says the same.
      target_compile_options(elm_dev INTERFACE -Wno-maybe-uninitialized)
    endif()
  endif()
elseif(MSVC)
  target_compile_options(elm_dev INTERFACE /W4 /permissive-)
endif()
if(ELM_SANITIZE)
  target_compile_options(elm_dev INTERFACE -fsanitize=${ELM_SANITIZE} -fno-sanitize-recover=all
    -fno-omit-frame-pointer -D_GLIBCXX_ASSERTIONS)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC's maybe-uninitialized analysis gives false positives under the sanitizers' instrumentation (seen in
    # libstdc++'s <regex> at -O1); the sanitizers themselves check the real thing at run time.
    target_compile_options(elm_dev INTERFACE -Wno-maybe-uninitialized)
  endif()
  target_link_options(elm_dev INTERFACE -fsanitize=${ELM_SANITIZE})
endif()

find_package(fmt REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
# stb_image_write (Debian's libstb-dev) encodes the PNG pictures the example programs draw.
find_path(ELM_STB_INCLUDE_DIR stb/stb_image_write.h REQUIRED)
find_library(ELM_STB_LIBRARY stb REQUIRED)

# elm_add_program(NAME SOURCE): an example program built as bin/NAME.
function(elm_add_program name source)
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE elm_dev fmt::fmt CLI11::CLI11 ${ELM_STB_LIBRARY})
  target_include_directories(${name} SYSTEM PRIVATE ${ELM_STB_INCLUDE_DIR})
endfunction()
