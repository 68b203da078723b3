# Every docs/snippets/<name>.cpp is compiled as a program and run by CTest; when docs/snippets/<name>.out
# exists, the program's standard output must equal it. tests/docs/test_docs.cpp checks that each ```cpp block
# in docs/ is exactly one of these files (and each ```text block after it the .out file), so the docs can't rot.
file(GLOB elm_snippets CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/snippets/*.cpp)
foreach(source IN LISTS elm_snippets)
  get_filename_component(name ${source} NAME_WE)
  set(target elm-snippet-${name})
  add_executable(${target} ${source})
  # small demonstrations: -O1 compiles them several times faster than -O3, and they print the same (no
  # -ffast-math, no FP contraction under -std=c++17)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    set_source_files_properties(${source} PROPERTIES COMPILE_OPTIONS -O1)
  endif()
  target_link_libraries(${target} PRIVATE elm_dev fmt::fmt)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/snippets)
  add_test(NAME docs-snippet-${name}
    COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:${target}> -DEXPECTED=${PROJECT_SOURCE_DIR}/docs/snippets/${name}.out
            -DWORKING_DIRECTORY=${PROJECT_SOURCE_DIR} -P ${CMAKE_CURRENT_LIST_DIR}/run_snippet.cmake)
endforeach()
