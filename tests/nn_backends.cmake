# Tests of the backends: the element functions of nn/ops.h (the CUDA kernels' arithmetic) over every
# index on the CPU against the reference kernels, and every backend of the registry against the
# reference backend (test_backend_parity --device cpu here; the GPU ones under the gpu label in
# tests/gpu.cmake).
add_executable(test_ops test_ops.c)
target_link_libraries(test_ops nn_ref common testlib)
add_test(NAME nn_ops COMMAND test_ops)
set_tests_properties(nn_ops PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77 TIMEOUT 60)

add_executable(test_backend_parity test_backend_parity.c)
target_link_libraries(test_backend_parity nn_backends common testlib)
if(TARGET nn_cpu)
  add_test(NAME nn_backend_parity COMMAND test_backend_parity --device cpu ${CMAKE_SOURCE_DIR})
  set_tests_properties(nn_backend_parity PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()
