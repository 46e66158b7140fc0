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
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME nn_ckpt_python COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_ckpt_load.py
           ${CMAKE_SOURCE_DIR}/tools ${NN_CKPT_FIXTURE} ${CMAKE_SOURCE_DIR}/models/model1.ini)
else()
  add_test(NAME nn_ckpt_python COMMAND sh -c "echo 'skipped: python3 was not found when configuring'; exit 77")
endif()
set_tests_properties(nn_ckpt_python PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77
                     FIXTURES_REQUIRED nn_ckpt_fixture)
