# Runs one docs snippet (cmake -P, -DPROGRAM=... -DEXPECTED=... -DWORKING_DIRECTORY=...) and compares its output.
execute_process(COMMAND ${PROGRAM} WORKING_DIRECTORY ${WORKING_DIRECTORY} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "${PROGRAM} exited with ${rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(EXISTS ${EXPECTED})
  file(READ ${EXPECTED} expected)
  if(NOT out STREQUAL expected)
    message(FATAL_ERROR "${PROGRAM} printed\n${out}\nexpected (${EXPECTED})\n${expected}")
  endif()
endif()
