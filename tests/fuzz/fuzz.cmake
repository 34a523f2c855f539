# libFuzzer targets (configure with -DDX_FUZZ=ON -DCMAKE_C_COMPILER=clang).
# CTest runs each for DX_FUZZ_SECONDS on a copy of its committed seed
# corpus (for fuzz_rsp: recorded gdb, lldb and IDA-like sessions, plus what
# -merge=1 kept of the 10-million-execution campaign); every crash found
# becomes a file in tests/fuzz/regressions/, which the plain test suite
# replays (see test_fuzz_regressions).
set(DX_FUZZ_SECONDS 60 CACHE STRING "Seconds CTest runs each fuzz target")
set(DX_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

function(dx_fuzzer name lib)
  add_executable(${name} ${DX_FUZZ_DIR}/${name}.c)
  target_link_libraries(${name} PRIVATE ${lib})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  set(work ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${name})
  add_test(NAME ${name}_run
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1 DX_FUZZ_DUMP=${DX_FIXTURES}/testprog_full.dmp
      sh -c "rm -rf '${work}' && mkdir -p '${work}' && cp -r '${DX_FUZZ_DIR}/corpus/${ARGV2}/.' '${work}/' && \
             '$<TARGET_FILE:${name}>' -max_total_time=${DX_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=4096 \
             -max_len=${ARGV3} -print_final_stats=1 '${work}'")
  set_tests_properties(${name}_run PROPERTIES TIMEOUT 600)
endfunction()

dx_fuzzer(fuzz_dump dumpexec dump 65536)
# Module images from PE files: the mapper of small dumps' images.
dx_fuzzer(fuzz_pe dumpexec pe 65536)
dx_fuzzer(fuzz_args dumpexec args 4096)
dx_fuzzer(fuzz_rsp dx_server rsp 8192)
add_dependencies(fuzz_rsp fixtures)
# Guest-chosen arguments to every emulated system call.
dx_fuzzer(fuzz_nt dx_nt nt 4096)
add_dependencies(fuzz_nt fixtures)
