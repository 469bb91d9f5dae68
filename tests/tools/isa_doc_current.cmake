# Fails when a generated page (docs/isa.md, or docs/config.md's timing table with
# -DARGS=--config-doc;docs/config.md) differs from what tspisa-doc prints.
# -DTOOL=<tspisa-doc> -DOUT=<generated file> -DEXPECTED=<committed page> [-DARGS=<tool arguments>]
execute_process(COMMAND ${TOOL} ${ARGS} -o ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tspisa-doc failed (exit ${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT} ${EXPECTED} RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "${EXPECTED} is out of date: regenerate it with `tspisa-doc ${ARGS} -o ${EXPECTED}`")
endif()
