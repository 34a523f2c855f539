# Tests of the executor (emu/) on the fixture dumps; expected values come
# from the manifests (testprog_*.json), read by manifest.c.
foreach(t test_exec_calls test_exec_stops test_exec_args)
  dx_test(${t} ${t}.c)
  target_link_libraries(${t} PRIVATE manifest)
  set_tests_properties(${t} PROPERTIES TIMEOUT 600)
endforeach()

# The command line's call mode: dump_exec DUMP FUNCTION ARG...
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_cli_call
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_call.py $<TARGET_FILE:dump_exec>)
  set_tests_properties(test_cli_call PROPERTIES
    ENVIRONMENT "DX_FIXTURES=${DX_FIXTURES};DX_FIXTURES_SRC=${DX_FIXTURES_SRC}"
    TIMEOUT 300)
endif()

# Failure injection: the linker routes these library calls through the
# test's own wrappers, which fail them on demand.
dx_test(test_exec_faults test_exec_faults.c)
target_link_libraries(test_exec_faults PRIVATE manifest)
target_link_options(test_exec_faults PRIVATE
  -Wl,--wrap=uc_hook_add -Wl,--wrap=uc_mem_unmap -Wl,--wrap=uc_emu_start -Wl,--wrap=uc_ctl -Wl,--wrap=calloc)

# Calls across the kernel boundary, through nt/.
dx_test(test_nt_calls test_nt_calls.c)
target_link_libraries(test_nt_calls PRIVATE manifest dx_nt)
set_tests_properties(test_nt_calls PROPERTIES TIMEOUT 600)

# Snapshots, history and limits by block, with nt/ for the services.
dx_test(test_history test_history.c)
target_link_libraries(test_history PRIVATE manifest dx_nt)
set_tests_properties(test_history PROPERTIES TIMEOUT 300)
