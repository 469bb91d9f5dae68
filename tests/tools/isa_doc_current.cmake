# Fails when docs/isa.md differs from what tspisa-doc prints (run: tspisa-doc -o docs/isa.md).
# -DTOOL=<tspisa-doc> -DOUT=<generated file> -DEXPECTED=<docs/isa.md>
execute_process(COMMAND ${TOOL} -o ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tspisa-doc failed (exit ${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT} ${EXPECTED} RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "${EXPECTED} is out of date: regenerate it with `tspisa-doc -o docs/isa.md`")
endif()
