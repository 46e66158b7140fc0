# GPU tests (label gpu): built when the CUDA toolkit and cuDNN are found; on a machine without a
# GPU they report "skipped" with the reason (exit 77), never pass silently.
if(TARGET nn_cuda)
  add_executable(test_cuda_smoke test_cuda_smoke.c)
  target_link_libraries(test_cuda_smoke nn_cuda nn common testlib)
  add_test(NAME cuda_smoke COMMAND test_cuda_smoke)
  set_tests_properties(cuda_smoke PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77)
endif()
