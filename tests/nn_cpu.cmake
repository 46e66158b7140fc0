# The oneDNN backend ("cpu") against the reference backend, and the step-time benchmark driver.
add_executable(test_backend_parity test_backend_parity.c)
target_link_libraries(test_backend_parity nn common testlib)
add_test(NAME nn_backend_parity COMMAND test_backend_parity ${CMAKE_SOURCE_DIR})
set_tests_properties(nn_backend_parity PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77 TIMEOUT 120)

# bench_step MODEL.ini [--backend cpu] [--steps N] [--batch B]: trainer_benchmark on its own (not a
# test; bench/step_time.sh runs it against the PyTorch peer).
add_executable(bench_step bench_step.c ${CMAKE_SOURCE_DIR}/trainer/benchmark.c)
target_link_libraries(bench_step nn common)
