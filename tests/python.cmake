# The Python package's tests (tests/python), with pytest, against the copy
# of python/dumpexec the build puts beside libdumpexec.so.
# Debian's python3-pytest (setup-deps.sh installs it) lives with /usr/bin/python3,
# which may not be the python3 first on PATH.
set(DX_PYTEST_PYTHON "")
foreach(py /usr/bin/python3 ${Python3_EXECUTABLE})
  if(NOT DX_PYTEST_PYTHON AND EXISTS ${py})
    execute_process(COMMAND ${py} -c "import pytest" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
      set(DX_PYTEST_PYTHON ${py})
    endif()
  endif()
endforeach()

set(DX_PY_ENV "DX_FIXTURES=${DX_FIXTURES}" "DX_FIXTURES_SRC=${DX_FIXTURES_SRC}"
  "PYTHONPATH=${CMAKE_BINARY_DIR}/python" "PYTHONDONTWRITEBYTECODE=1" "DX_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
if(DX_SANITIZE)
  # A sanitized library in an unsanitized interpreter: ASan's runtime must
  # come first, and the interpreter's own allocations are not ours to judge.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so OUTPUT_VARIABLE asan
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND DX_PY_ENV "LD_PRELOAD=${asan}" "ASAN_OPTIONS=detect_leaks=0" "DX_SANITIZED=1")
endif()

if(DX_PYTEST_PYTHON)
  add_test(NAME python_package
    COMMAND ${DX_PYTEST_PYTHON} -m pytest -q -p no:cacheprovider ${CMAKE_CURRENT_SOURCE_DIR}/python)
  set_tests_properties(python_package PROPERTIES TIMEOUT 600 ENVIRONMENT "${DX_PY_ENV}")
else()
  add_test(NAME python_package COMMAND sh -c
    "echo 'no python3 with pytest (Debian python3-pytest): run scripts/setup-deps.sh' >&2; exit 1")
endif()
