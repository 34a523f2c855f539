# Tests of the minidump reader (dump/) and of dump_exec's listing.
#
#   test_dump_bad       malformed dumps are refused with a message; writer
#                       oddities (Unused/vendor/duplicate streams, overlapping
#                       memory ranges) are tolerated
#   test_dump_streams   every stream type, written by tests/mdwriter.c and read back
#   test_dump_pe        PE sections, exports, forwarders, address expressions
#   test_dump_fixtures  the Wine fixtures against their manifests, and the
#                       public Breakpad dumps (x64 read, x86 refused)
#   test_cli_bad        dump_exec on every bad input: exit 2, one line on stderr
#   test_cli_list       dump_exec's text and --json listings
#

# The minidump writer the tests build their inputs with.
add_library(mdwriter STATIC mdwriter.c)
target_link_libraries(mdwriter PUBLIC dumpexec)
target_include_directories(mdwriter PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})

dx_test(test_dump_bad test_dump_bad.c)
target_link_libraries(test_dump_bad PRIVATE mdwriter)

dx_test(test_dump_streams test_dump_streams.c)
target_link_libraries(test_dump_streams PRIVATE mdwriter)

dx_test(test_dump_pe test_dump_pe.c)
target_link_libraries(test_dump_pe PRIVATE mdwriter)

# Images from PE files behind a small dump (dump/images.c).
dx_test(test_dump_images test_dump_images.c)
target_link_libraries(test_dump_images PRIVATE manifest)

add_library(manifest STATIC manifest.c)
target_link_libraries(manifest PUBLIC dumpexec PkgConfig::JANSSON)
target_include_directories(manifest PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})

dx_test(test_dump_fixtures test_dump_fixtures.c)
target_link_libraries(test_dump_fixtures PRIVATE manifest)

find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_cli_bad
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_bad.py
            $<TARGET_FILE:dump_exec> $<TARGET_FILE:test_dump_bad> ${DX_FIXTURES_SRC})
  add_test(NAME test_cli_list
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_list.py
            $<TARGET_FILE:dump_exec> ${DX_FIXTURES} ${DX_FIXTURES_SRC} $<TARGET_FILE:test_dump_streams>)
  add_test(NAME test_cli_coverage
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_coverage.py $<TARGET_FILE:dump_exec>)
  add_test(NAME test_cli_tenet
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_tenet.py $<TARGET_FILE:dump_exec>)
  set_tests_properties(test_cli_coverage test_cli_tenet PROPERTIES
    ENVIRONMENT "DX_FIXTURES=${DX_FIXTURES};DX_FIXTURES_SRC=${DX_FIXTURES_SRC}")
  add_test(NAME test_cli_images
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_images.py $<TARGET_FILE:dump_exec>)
  set_tests_properties(test_cli_coverage test_cli_tenet test_cli_images PROPERTIES
    ENVIRONMENT "DX_FIXTURES=${DX_FIXTURES};DX_FIXTURES_SRC=${DX_FIXTURES_SRC}")
  # It serves a dump to gdb and waits out a stalled HTTP server: not beside
  # the server tests' timing checks.
  set_tests_properties(test_cli_images PROPERTIES SKIP_RETURN_CODE 77 RESOURCE_LOCK dx_server_e2e)
  set_tests_properties(test_cli_bad test_cli_list test_cli_coverage test_cli_tenet test_cli_images PROPERTIES TIMEOUT 300)
else()
  message(WARNING "python3 not found: the dump_exec CLI tests are not registered")
endif()

# CONTEXT and EXCEPTION_RECORD offsets against mingw-w64's own winnt.h, at
# compile time (setup-deps.sh installs the cross compiler).
find_program(DX_MINGW_CC x86_64-w64-mingw32-gcc)
if(DX_MINGW_CC)
  add_test(NAME test_winnt_layout
    COMMAND ${DX_MINGW_CC} -fsyntax-only -Wall -Werror -I${CMAKE_SOURCE_DIR}/dump
      ${CMAKE_CURRENT_SOURCE_DIR}/test_winnt_layout.c)
else()
  add_test(NAME test_winnt_layout COMMAND ${CMAKE_COMMAND} -E echo "x86_64-w64-mingw32-gcc not found: skipped")
  set_tests_properties(test_winnt_layout PROPERTIES SKIP_REGULAR_EXPRESSION "skipped")
endif()
