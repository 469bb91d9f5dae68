# tspasm/tspdis --system: options in any order, a system container round trip, and bad input (exit code 2,
# one "error: ..." line, the output file untouched).
# -DASM=<tspasm> -DDIS=<tspdis> -DSOURCE_DIR=<repository> -DWORK=<scratch dir>
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(TWO ${SOURCE_DIR}/configs/systems/two_chips.json)
set(NODE ${SOURCE_DIR}/configs/systems/node8.json)
set(EXAMPLE ${SOURCE_DIR}/examples/systems/two_chip_pingpong.tsp)

function(expect_failure expected_stderr)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "`${ARGN}` exited with ${rc}, expected 2")
  endif()
  if(NOT err STREQUAL "${expected_stderr}")
    message(FATAL_ERROR "`${ARGN}` printed\n${err}expected\n${expected_stderr}")
  endif()
endfunction()

function(expect_success)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "`${ARGN}` exited with ${rc}, expected 0")
  endif()
endfunction()

# Options before, between and after the positional argument give the same container.
expect_success(${ASM} --system ${TWO} -o ${WORK}/a.bin ${EXAMPLE})
expect_success(${ASM} -o ${WORK}/b.bin ${EXAMPLE} --system ${TWO})
expect_success(${ASM} ${EXAMPLE} --system ${TWO} -o ${WORK}/c.bin)
foreach(other b c)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/a.bin ${WORK}/${other}.bin RESULT_VARIABLE differ)
  if(differ)
    message(FATAL_ERROR "${other}.bin differs from a.bin")
  endif()
endforeach()
execute_process(COMMAND ${DIS} --system ${TWO} ${WORK}/a.bin RESULT_VARIABLE rc OUTPUT_VARIABLE text)
if(NOT rc EQUAL 0 OR NOT text MATCHES "\n\\.chip 0\n" OR NOT text MATCHES "\n\\.chip 1\n")
  message(FATAL_ERROR "tspdis --system: exit ${rc}, output\n${text}")
endif()

file(WRITE ${WORK}/out.bin "old")
file(WRITE ${WORK}/plain.tsp ".queue MEM_W3\n    NOP 1\n")
expect_failure("error: ${WORK}/plain.tsp: a one-chip program cannot run on system 'two_chips' (2 chips): give each chip its program in .chip sections (docs/assembly.md) or use a system program container\n"
               ${ASM} ${WORK}/plain.tsp --system ${TWO} -o ${WORK}/out.bin)
expect_failure("error: ${EXAMPLE}:18:1: .chip starts a section of a system program (use --system SYSTEM.json)\n"
               ${ASM} ${EXAMPLE} -o ${WORK}/out.bin)
# --config with --system must be the chips' own config: the same one gives the same container, another
# one is refused by every tool (it would be silently ignored).
expect_success(${ASM} ${EXAMPLE} -o ${WORK}/d.bin --config ${SOURCE_DIR}/configs/14nm.json --system ${TWO})
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/a.bin ${WORK}/d.bin RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "tspasm with the system's own --config wrote another container")
endif()
set(NOT_TWO "error: --config ${SOURCE_DIR}/configs/tiny.json does not match chip 0 of system ${TWO} (config ${SOURCE_DIR}/configs/14nm.json): a system's file names its chips' configs; drop --config or pass that one\n")
expect_failure("${NOT_TWO}" ${ASM} ${EXAMPLE} -o ${WORK}/out.bin --system ${TWO} --config ${SOURCE_DIR}/configs/tiny.json)
expect_failure("${NOT_TWO}" ${DIS} --config ${SOURCE_DIR}/configs/tiny.json ${WORK}/a.bin --system ${TWO})
# Same geometry, another clock: still not the chips' config.
file(READ ${SOURCE_DIR}/configs/14nm.json chip_text)
string(REPLACE "\"clock_mhz\": 900" "\"clock_mhz\": 1000" chip_text "${chip_text}")
file(WRITE ${WORK}/fast.json "${chip_text}")
expect_failure("error: --config ${WORK}/fast.json does not match chip 0 of system ${TWO} (config ${SOURCE_DIR}/configs/14nm.json): a system's file names its chips' configs; drop --config or pass that one\n"
               ${ASM} ${EXAMPLE} -o ${WORK}/out.bin --system ${TWO} --config ${WORK}/fast.json)
expect_failure("error: cannot read '${SOURCE_DIR}/configs/systems/none.json': No such file or directory\n"
               ${ASM} ${EXAMPLE} -o ${WORK}/out.bin --system ${SOURCE_DIR}/configs/systems/none.json)
expect_failure("error: ${TWO}: chips[0].links.0: link 0 of chip 0 is out of range (its config ${SOURCE_DIR}/configs/14nm.json has c2c.links = 0)\n"
               ${ASM} ${EXAMPLE} -o ${WORK}/out.bin --system ${TWO} --set c2c.links=0)
file(WRITE ${WORK}/twice.tsp ".chip 0-1\n.chip 1\n")
expect_failure("error: ${WORK}/twice.tsp:2:1: chip 1 is already in the .chip section on line 1\n"
               ${ASM} ${WORK}/twice.tsp -o ${WORK}/out.bin --system ${TWO})
file(READ ${WORK}/out.bin kept)
if(NOT kept STREQUAL "old" OR EXISTS ${WORK}/out.bin.tmp)
  message(FATAL_ERROR "a failed tspasm run changed ${WORK}/out.bin or left a temporary file")
endif()
expect_failure("error: -o: cannot write '${WORK}/no/such/dir/x.bin': No such file or directory\n"
               ${ASM} ${EXAMPLE} --system ${TWO} -o ${WORK}/no/such/dir/x.bin)

# tspdis: a system container needs --system, and the right one.
expect_failure("error: ${WORK}/a.bin: a system program, not a one-chip program (pass --system SYSTEM.json)\n"
               ${DIS} ${WORK}/a.bin --config ${SOURCE_DIR}/configs/14nm.json)
execute_process(COMMAND ${DIS} ${WORK}/a.bin --system ${NODE} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 2 OR NOT err MATCHES "^error: ${WORK}/a.bin: built for system 'two_chips' \\(fingerprint 0x[0-9a-f]+\\), not for system 'node8' \\(${NODE}, fingerprint 0x[0-9a-f]+\\)\n$")
  message(FATAL_ERROR "tspdis on another system: exit ${rc}, printed\n${err}")
endif()
