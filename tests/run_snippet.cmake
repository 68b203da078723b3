# Runs one docs snippet (cmake -P, -DPROGRAM=... -DSNIPPET=... -DEXPECTED=... -DWORKING_DIRECTORY=...): PROGRAM
# SNIPPET runs docs/snippets/SNIPPET.cpp (tests/docs_snippets.cmake), whose output is compared with EXPECTED.
execute_process(COMMAND ${PROGRAM} ${SNIPPET} WORKING_DIRECTORY ${WORKING_DIRECTORY} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "${PROGRAM} ${SNIPPET} exited with ${rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(EXISTS ${EXPECTED})
  file(READ ${EXPECTED} expected)
  if(NOT out STREQUAL expected)
    message(FATAL_ERROR "${PROGRAM} ${SNIPPET} printed\n${out}\nexpected (${EXPECTED})\n${expected}")
  endif()
endif()
