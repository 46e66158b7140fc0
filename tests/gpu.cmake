# GPU tests (label gpu): built wherever the CUDA toolkit, cuBLAS and cuDNN are found; on a machine
# without a usable GPU each reports "skipped" with the reason (exit 77), never a silent pass.
#   cuda_kernels         the own kernels one by one against nn/ref; model2 against cpu; graph = eager; tf32
#   nn_backend_parity_gpu  every GPU backend of the registry against ref (test_backend_parity,
#                          declared in tests/nn_backends.cmake)
#   trainer_pipeline_cuda  whole runs over inproc:// on the cuda backend, resumed bit for bit
if(TARGET nn_cuda)
  add_executable(test_cuda test_cuda.c)
  target_link_libraries(test_cuda nn_backends nn_cuda common testlib)
  target_compile_options(test_cuda PRIVATE -ffp-contract=off)   # as nn_ref: the ops.h formulas exactly
  add_test(NAME cuda_kernels COMMAND test_cuda ${CMAKE_SOURCE_DIR})
  set_tests_properties(cuda_kernels PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 300)

  add_test(NAME nn_backend_parity_gpu COMMAND test_backend_parity --device gpu ${CMAKE_SOURCE_DIR})
  set_tests_properties(nn_backend_parity_gpu PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 300)

  if(NOT PAWPIPE_GPU_ONLY)   # test_trainer_pipeline: declared in tests/trainer.cmake
    add_test(NAME trainer_pipeline_cuda COMMAND test_trainer_pipeline $<TARGET_FILE:gen_dataset>)
    set_tests_properties(trainer_pipeline_cuda PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 300
                         ENVIRONMENT "PAWPIPE_TEST_BACKEND=cuda")
  endif()
endif()
