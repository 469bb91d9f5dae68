# tspasm EXAMPLE -> a.bin; tspdis a.bin -> a.tsp; tspasm a.tsp -> b.bin; a.bin and b.bin must be identical.
# -DASM=<tspasm> -DDIS=<tspdis> -DSOURCE=<example .tsp> -DWORK=<scratch dir>, and either
# -DCONFIG=<chip config json> (a one-chip program) or -DSYSTEM=<system json> (a system program).
if(DEFINED SYSTEM)
  set(target --system ${SYSTEM})
else()
  set(target --config ${CONFIG})
endif()
file(MAKE_DIRECTORY ${WORK})
foreach(step "${ASM};${SOURCE};-o;${WORK}/a.bin" "${DIS};${WORK}/a.bin;-o;${WORK}/a.tsp"
             "${ASM};${WORK}/a.tsp;-o;${WORK}/b.bin")
  execute_process(COMMAND ${step} ${target} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "`${step} ${target}` failed (exit ${rc})")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/a.bin ${WORK}/b.bin RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "${SOURCE}: reassembling the disassembly gives a different binary")
endif()
