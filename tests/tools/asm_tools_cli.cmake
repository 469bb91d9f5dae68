# tspasm/tspdis on bad input: exit code 2, one "error: ..." line, and the output file untouched.
# -DASM=<tspasm> -DDIS=<tspdis> -DCONFIG=<14nm config json> -DTINY=<tiny config json> -DWORK=<scratch dir>
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(expect_failure expected_stderr)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "`${ARGN}` exited with ${rc}, expected 2")
  endif()
  if(NOT err STREQUAL "${expected_stderr}")
    message(FATAL_ERROR "`${ARGN}` printed\n${err}expected\n${expected_stderr}")
  endif()
endfunction()

file(WRITE ${WORK}/out.bin "old")
file(WRITE ${WORK}/bad.tsp ".queue MEM_W3\n    Raed 0, E0\n")
expect_failure("error: ${WORK}/bad.tsp:2:5: unknown mnemonic 'Raed'\n" ${ASM} ${WORK}/bad.tsp -o ${WORK}/out.bin --config ${CONFIG})
expect_failure("error: cannot read '${WORK}/none.tsp': No such file or directory\n"
               ${ASM} ${WORK}/none.tsp -o ${WORK}/out.bin --config ${CONFIG})
expect_failure("error: ${WORK}/bad.tsp: not a tspsim program (bad magic)\n" ${DIS} ${WORK}/bad.tsp --config ${CONFIG})
file(READ ${WORK}/out.bin kept)
if(NOT kept STREQUAL "old" OR EXISTS ${WORK}/out.bin.tmp)
  message(FATAL_ERROR "a failed tspasm run changed ${WORK}/out.bin or left a temporary file")
endif()

# Without --config tspasm builds for configs/14nm.json and tspdis finds the bundled config from the
# program's fingerprint; with the wrong --config the error names the config it was built for.
file(WRITE ${WORK}/nop.tsp ".queue MEM_W3\n    NOP 1\n")
execute_process(COMMAND ${ASM} ${WORK}/nop.tsp -o ${WORK}/default.bin RESULT_VARIABLE rc)
execute_process(COMMAND ${ASM} ${WORK}/nop.tsp -o ${WORK}/explicit.bin --config ${CONFIG} RESULT_VARIABLE rc2)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/default.bin ${WORK}/explicit.bin RESULT_VARIABLE differ)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0 OR differ)
  message(FATAL_ERROR "tspasm without --config: exit ${rc}/${rc2}, differs from --config 14nm.json: ${differ}")
endif()
execute_process(COMMAND ${ASM} ${WORK}/nop.tsp -o ${WORK}/tiny.bin --config ${TINY} RESULT_VARIABLE rc)
execute_process(COMMAND ${DIS} ${WORK}/tiny.bin RESULT_VARIABLE rc2 OUTPUT_VARIABLE text)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT text MATCHES "^; tspdis [^\n]* for tiny: ")
  message(FATAL_ERROR "tspdis without --config of a tiny.json program: exit ${rc}/${rc2}, output\n${text}")
endif()
execute_process(COMMAND ${DIS} ${WORK}/tiny.bin --config ${CONFIG} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^error: ${WORK}/tiny.bin: built for another chip geometry \\(program fingerprint 0x[0-9a-f]+, config fingerprint 0x[0-9a-f]+\\); it was built for configs/tiny.json\n$")
  message(FATAL_ERROR "tspdis of a tiny.json program with 14nm.json: exit ${rc}, printed\n${err}")
endif()

file(WRITE ${WORK}/ok.tsp ".queue MEM_W3\n    NOP 1\n")
execute_process(COMMAND ${ASM} ${WORK}/ok.tsp -o ${WORK}/out.bin --config ${CONFIG} RESULT_VARIABLE rc)
execute_process(COMMAND ${DIS} ${WORK}/out.bin --config ${CONFIG} RESULT_VARIABLE rc2 OUTPUT_VARIABLE text)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT text MATCHES "\n\\.queue MEM_W3\n    NOP 1 @2\n$")
  message(FATAL_ERROR "tspasm/tspdis of a valid program: exit ${rc}/${rc2}, output\n${text}")
endif()

# An output that cannot be written is refused before any work, naming the option.
expect_failure("error: -o: cannot write '${WORK}': is a directory\n" ${ASM} ${WORK}/ok.tsp -o ${WORK})
expect_failure("error: -o: cannot write '${WORK}/none/a.tsp': No such file or directory\n"
               ${DIS} ${WORK}/out.bin -o ${WORK}/none/a.tsp)

# A program no bundled config describes: tspdis needs --config and says so. (Fingerprints change
# with the ISA table, so they are matched, not pinned.)
execute_process(COMMAND ${ASM} ${WORK}/nop.tsp -o ${WORK}/odd.bin --config ${TINY} --set timing.mem_read_func=3
                RESULT_VARIABLE rc)
execute_process(COMMAND ${DIS} ${WORK}/odd.bin RESULT_VARIABLE rc2 ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 2 OR NOT err MATCHES "^error: ${WORK}/odd.bin: no bundled config has the program's geometry \\(fingerprint 0x[0-9a-f]+\\): pass the --config it was built for\n$")
  message(FATAL_ERROR "tspdis of a program no bundled config describes: exit ${rc}/${rc2}, printed\n${err}")
endif()
execute_process(COMMAND ${DIS} ${WORK}/odd.bin --config ${TINY} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "; no bundled config matches it\n$")
  message(FATAL_ERROR "tspdis of that program with tiny.json: exit ${rc}, printed\n${err}")
endif()
