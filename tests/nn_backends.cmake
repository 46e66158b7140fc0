# Tests of the backends: the element functions of nn/ops.h (the CUDA kernels' arithmetic) over every
# index on the CPU against the reference kernels, and every backend of the registry against the
# reference backend (test_backend_parity --device cpu here; the GPU ones under the gpu label in
# tests/gpu.cmake).
add_executable(test_ops test_ops.c)
target_link_libraries(test_ops nn_ref common testlib)
target_compile_options(test_ops PRIVATE -ffp-contract=off)   # as nn_ref: the ops.h formulas exactly
add_test(NAME nn_ops COMMAND test_ops)
set_tests_properties(nn_ops PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77 TIMEOUT 60)

add_executable(test_backend_parity test_backend_parity.c)
target_link_libraries(test_backend_parity nn_backends common testlib)
if(TARGET nn_cpu)
  add_test(NAME nn_backend_parity COMMAND test_backend_parity --device cpu ${CMAKE_SOURCE_DIR})
  set_tests_properties(nn_backend_parity PROPERTIES LABELS "nn;unit" SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()

# The stages that need no network library link the core alone: no oneDNN, no CUDA in the loader
# and the augmenter (ldd); the trainer, which has the registry, does link them (the check can fail).
if(NOT PAWPIPE_GPU_ONLY)
  set(backend_libs "libdnnl|libcudnn|libcublas|libcudart")
  if(PAWPIPE_HAVE_CUDA)
    set(trainer_needs "libcudnn")
  else()
    set(trainer_needs "libdnnl")
  endif()
  add_test(NAME nn_core_links_alone COMMAND sh -c
           "for b in \"$1\" \"$2\"; do if ldd \"$b\" | grep -E '${backend_libs}'; then echo \"$b links a backend library\"; exit 1; fi; done; ldd \"$3\" | grep -q '${trainer_needs}' || { echo \"the trainer does not link ${trainer_needs}\"; exit 1; }; echo 'loader and augmenter link no backend library; the trainer links ${trainer_needs}'"
           sh $<TARGET_FILE:loader> $<TARGET_FILE:augmenter> $<TARGET_FILE:trainer>)
  set_tests_properties(nn_core_links_alone PROPERTIES LABELS "nn;unit")
endif()
