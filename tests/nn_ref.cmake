# Tests of the reference kernels and the ref backend: finite differences and PyTorch fixtures.
add_executable(test_gradcheck test_gradcheck.c)
target_link_libraries(test_gradcheck nn_backends common testlib)
add_test(NAME nn_gradcheck COMMAND test_gradcheck)
set_tests_properties(nn_gradcheck PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77 TIMEOUT 60)

add_executable(test_fixtures test_fixtures.c)
target_link_libraries(test_fixtures nn_backends common testlib)
add_test(NAME nn_fixtures COMMAND test_fixtures ${CMAKE_SOURCE_DIR}/tests/reference)
set_tests_properties(nn_fixtures PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77 TIMEOUT 60)
