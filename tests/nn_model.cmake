# Tests of nn/'s model specs (parser, shapes, parameter layout, summary, Glorot init) and checkpoints.
add_executable(test_spec test_spec.c)
target_link_libraries(test_spec nn testlib)
add_test(NAME nn_spec COMMAND test_spec ${CMAKE_SOURCE_DIR})
set_tests_properties(nn_spec PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77)

add_executable(test_checkpoint test_checkpoint.c)
target_link_libraries(test_checkpoint nn testlib)
add_test(NAME nn_checkpoint COMMAND test_checkpoint ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/nn_checkpoint_tmp)
set_tests_properties(nn_checkpoint PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77)

# tools/ckpt_load.py (numpy only) reads back a checkpoint written by the C code.
set(NN_CKPT_FIXTURE ${CMAKE_CURRENT_BINARY_DIR}/nn_ckpt_fixture.safetensors)
add_test(NAME nn_ckpt_fixture COMMAND test_checkpoint ${CMAKE_SOURCE_DIR} --write-fixture ${NN_CKPT_FIXTURE})
set_tests_properties(nn_ckpt_fixture PROPERTIES LABELS "nn;unit" FIXTURES_SETUP nn_ckpt_fixture)
# The test needs a Python with numpy: the first of Python3_EXECUTABLE (when given), python3 on PATH and
# Debian's /usr/bin/python3 (scripts/dev installs python3-numpy) that imports numpy, probed at each
# configure. Where none does the test fails, saying so: only tests labelled gpu may skip.
set(nn_ckpt_pythons)
if(Python3_EXECUTABLE)
  list(APPEND nn_ckpt_pythons ${Python3_EXECUTABLE})
endif()
find_program(nn_ckpt_path_python3 python3 NO_CACHE)
if(nn_ckpt_path_python3)
  list(APPEND nn_ckpt_pythons ${nn_ckpt_path_python3})
endif()
list(APPEND nn_ckpt_pythons /usr/bin/python3)
list(REMOVE_DUPLICATES nn_ckpt_pythons)
set(nn_ckpt_python "")
foreach(nn_ckpt_py ${nn_ckpt_pythons})
  execute_process(COMMAND ${nn_ckpt_py} -c "import numpy" RESULT_VARIABLE nn_ckpt_rc OUTPUT_QUIET ERROR_QUIET)
  if(nn_ckpt_rc EQUAL 0)
    set(nn_ckpt_python ${nn_ckpt_py})
    break()
  endif()
endforeach()
if(nn_ckpt_python)
  message(STATUS "nn_ckpt_python: ${nn_ckpt_python} (has numpy)")
  add_test(NAME nn_ckpt_python COMMAND ${nn_ckpt_python} ${CMAKE_CURRENT_SOURCE_DIR}/test_ckpt_load.py
           ${CMAKE_SOURCE_DIR}/tools ${NN_CKPT_FIXTURE} ${CMAKE_SOURCE_DIR}/models/model1.ini)
else()
  string(REPLACE ";" ", " nn_ckpt_tried "${nn_ckpt_pythons}")
  message(WARNING "nn_ckpt_python will fail: no Python with numpy among ${nn_ckpt_tried} (install python3-numpy)")
  add_test(NAME nn_ckpt_python COMMAND sh -c
           "echo 'error: no Python with numpy when configuring (tried ${nn_ckpt_tried}); install python3-numpy (scripts/dev deps) and configure again'; exit 1")
endif()
set_tests_properties(nn_ckpt_python PROPERTIES LABELS "nn;unit" FIXTURES_REQUIRED nn_ckpt_fixture)
