# tspasm --system SYSTEM EXAMPLE -> a.bin; tspdis -> a.tsp; tspasm a.tsp -> b.bin; a.bin and b.bin must be identical.
# -DASM=<tspasm> -DDIS=<tspdis> -DSYSTEM=<system json> -DSOURCE=<example .tsp> -DWORK=<scratch dir>
file(MAKE_DIRECTORY ${WORK})
foreach(step "${ASM};${SOURCE};-o;${WORK}/a.bin" "${DIS};${WORK}/a.bin;-o;${WORK}/a.tsp"
             "${ASM};${WORK}/a.tsp;-o;${WORK}/b.bin")
  execute_process(COMMAND ${step} --system ${SYSTEM} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "`${step}` failed (exit ${rc})")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/a.bin ${WORK}/b.bin RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "${SOURCE}: reassembling the disassembly gives a different system program")
endif()
