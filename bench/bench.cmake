# The benchmark: build/dump_exec_bench, included by the root CMakeLists.txt.
#   cmake --build build --target dump_exec_bench && build/dump_exec_bench
add_executable(dump_exec_bench
  ${CMAKE_SOURCE_DIR}/bench/main.c
  ${CMAKE_SOURCE_DIR}/bench/util.c
  ${CMAKE_SOURCE_DIR}/bench/net.c
  ${CMAKE_SOURCE_DIR}/bench/raw.c
  ${CMAKE_SOURCE_DIR}/bench/fig_open.c
  ${CMAKE_SOURCE_DIR}/bench/fig_call.c
  ${CMAKE_SOURCE_DIR}/bench/fig_exec.c
  ${CMAKE_SOURCE_DIR}/bench/fig_history.c
  ${CMAKE_SOURCE_DIR}/bench/fig_images.c
  ${CMAKE_SOURCE_DIR}/bench/fig_proto.c
  ${CMAKE_SOURCE_DIR}/bench/fig_sessions.c
  ${CMAKE_SOURCE_DIR}/bench/fig_soak.c
  ${CMAKE_SOURCE_DIR}/bench/fig_nt.c
  ${CMAKE_SOURCE_DIR}/bench/fig_python.c
)
# dx_server brings dx_protocol, dumpexec, Unicorn, Capstone and libuv; Unicorn
# is named again because the baseline calls it directly.
target_link_libraries(dump_exec_bench PRIVATE dx_server dx_nt PkgConfig::UNICORN Threads::Threads m)
set_target_properties(dump_exec_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# Defaults for --dump-exec and --fixture (the environment variables
# DXB_DUMP_EXEC and DXB_FIXTURE, and the options, override them).
set(DXB_FIXTURE ${CMAKE_BINARY_DIR}/tests/fixtures/testprog_full.dmp)
target_compile_definitions(dump_exec_bench PRIVATE
  DXB_DUMP_EXEC="$<TARGET_FILE:dump_exec>"
  DXB_FIXTURE="${DXB_FIXTURE}"
  DXB_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
  DXB_PYTHON_DIR="${CMAKE_BINARY_DIR}/python")
add_dependencies(dump_exec_bench dump_exec)
if(DX_SANITIZE)
  # The Python figures load a sanitized libdumpexec into python3: ASan's runtime must come first.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so OUTPUT_VARIABLE DXB_ASAN
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  target_compile_definitions(dump_exec_bench PRIVATE DXB_PY_PRELOAD="${DXB_ASAN}")
endif()
if(TARGET python_package)
  add_dependencies(dump_exec_bench python_package)
endif()

if(TARGET fixtures)
  add_dependencies(dump_exec_bench fixtures)
else()
  # Tests are off: unpack the one fixture the benchmark needs ourselves.
  find_program(DXB_XZ xz REQUIRED)
  add_custom_command(
    OUTPUT ${DXB_FIXTURE}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/tests/fixtures
    COMMAND ${DXB_XZ} -dc ${CMAKE_SOURCE_DIR}/tests/fixtures/testprog_full.dmp.xz > ${DXB_FIXTURE}
    DEPENDS ${CMAKE_SOURCE_DIR}/tests/fixtures/testprog_full.dmp.xz
    COMMENT "Unpacking fixture testprog_full.dmp for the benchmark")
  add_custom_target(bench_fixtures DEPENDS ${DXB_FIXTURE})
  add_dependencies(dump_exec_bench bench_fixtures)
endif()

# CI runs the quick pass only to prove the benchmark works: it fails when the
# benchmark crashes or cannot measure a figure, never on a number.
# Unicorn keeps a few allocations past uc_close; under DX_SANITIZE only
# those (made inside libunicorn) are not reported as leaks.
if(DX_TESTS)
  set(DXB_LSAN_SUPP ${CMAKE_BINARY_DIR}/bench-lsan.supp)
  file(WRITE ${DXB_LSAN_SUPP} "leak:libunicorn.so\n")
  add_test(NAME bench_smoke COMMAND dump_exec_bench --short)
  set_tests_properties(bench_smoke PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE
    ENVIRONMENT "LSAN_OPTIONS=suppressions=${DXB_LSAN_SUPP}:print_suppressions=0")
endif()
