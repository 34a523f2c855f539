# End-to-end tests of `dump_exec --listen`: real gdb and lldb sessions, raw
# GDB Remote Serial Protocol clients, and several clients at once. Python 3
# scripts in server/ (stdlib only); each starts its own servers on
# 127.0.0.1 with port 0 and checks that SIGTERM stops them cleanly (exit 0,
# no sanitizer report). A script exits 77 (skipped) when its debugger is not
# installed.
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(WARNING "python3 not found: the GDB server tests are not registered")
  return()
endif()

set(DX_SERVER_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/server)

# dx_server_test(NAME SCRIPT): run server/SCRIPT against the built dump_exec
# and the unpacked fixtures (dump_exec and the `fixtures` target build by default).
function(dx_server_test name script)
  add_test(NAME ${name}
    COMMAND ${Python3_EXECUTABLE} ${DX_SERVER_TESTS}/${script}
            --dump-exec $<TARGET_FILE:dump_exec> --fixtures ${DX_FIXTURES} --fixtures-src ${DX_FIXTURES_SRC})
  set_tests_properties(${name} PROPERTIES
    TIMEOUT 240
    SKIP_RETURN_CODE 77
    LABELS "server"
    # Timing checks (an interrupt within 0.5-1 s) want a machine that is not
    # also running the other server scripts.
    RESOURCE_LOCK dx_server_e2e
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1;PYTHONUNBUFFERED=1;DX_SANITIZER=$<IF:$<BOOL:${DX_TSAN}>,thread,>")
endfunction()

dx_server_test(server_raw test_raw.py)
dx_server_test(server_sessions test_sessions.py)
dx_server_test(server_gdb test_gdb.py)
dx_server_test(server_lldb test_lldb.py)
dx_server_test(server_hostile test_hostile.py)
dx_server_test(server_windows test_windows.py)
dx_server_test(server_reverse test_reverse.py)
