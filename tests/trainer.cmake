# Tests of the trainer: progress output and --resume refusals (test_trainer); the command line
# (--help, --summary, a bad spec); and whole runs over inproc:// with the loader and augmenters as
# threads on a generated data set (test_trainer_pipeline).
add_executable(test_trainer test_trainer.c)
target_link_libraries(test_trainer trainer_lib testlib)
add_test(NAME trainer COMMAND test_trainer)
set_tests_properties(trainer PROPERTIES LABELS "pipeline" SKIP_RETURN_CODE 77 TIMEOUT 60)

# --help lists every flag.
set(trainer_flags model summary epochs steps-per-epoch backend run-dir batches-bind credits checkpoints-bind
    resume checkpoint-every window progress dry-run benchmark batch log-level help precision stall-ms autotune
    tensorboard-every no-tensorboard)
add_test(NAME trainer_help COMMAND sh -c
         "out=$(\"$0\" --help) || exit 1; for f in \"$@\"; do printf '%s\\n' \"$out\" | grep -q -- \"^  --$f\\\\b\" || { echo \"--help does not list --$f\"; exit 1; }; done; echo \"all $# flags listed\""
         $<TARGET_FILE:trainer> ${trainer_flags})
set_tests_properties(trainer_help PROPERTIES LABELS "pipeline")

# model1's summary: exit status 0 and Keras' parameter count.
add_test(NAME trainer_summary_model1
         COMMAND ${PAWPIPE_EXPECT} 0 "Total params: 3,453,121" --
                 $<TARGET_FILE:trainer> --summary --model ${CMAKE_SOURCE_DIR}/models/model1.ini)
set_tests_properties(trainer_summary_model1 PROPERTIES LABELS "pipeline")

# A spec with an unknown layer type on line 5: exit status 2, and the message names FILE:5.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/trainer_bad_spec.ini
     "[model]\nname = bad\ninput = 32, 32, 3\n[conv2d_1]\ntype = conv3d\n")
add_test(NAME trainer_summary_bad_spec
         COMMAND ${PAWPIPE_EXPECT} 2 "trainer_bad_spec\\.ini:5:" --
                 $<TARGET_FILE:trainer> --summary --model ${CMAKE_CURRENT_BINARY_DIR}/trainer_bad_spec.ini)
set_tests_properties(trainer_summary_bad_spec PROPERTIES LABELS "pipeline")

# Whole runs over inproc:// (loader, 2 augmenters, subscriber as threads) on a data set written by
# gen_dataset: the loss falls, the checkpoint stream, bit-identical resumed runs.
add_executable(test_trainer_pipeline test_trainer_pipeline.c)
target_link_libraries(test_trainer_pipeline trainer_lib loader_lib augmenter_lib testlib Threads::Threads)
add_dependencies(test_trainer_pipeline gen_dataset)
add_test(NAME trainer_pipeline COMMAND test_trainer_pipeline $<TARGET_FILE:gen_dataset>)
set_tests_properties(trainer_pipeline PROPERTIES LABELS "pipeline" SKIP_RETURN_CODE 77 TIMEOUT 300)
# The same on the oneDNN backend (the default of the trainer): its resumed runs must be bit-identical too,
# with its default threads. Passive OpenMP waiting: spinning threads would starve the augmenter threads
# of this test on 2 cores (it ran 4x slower under load).
add_test(NAME trainer_pipeline_cpu COMMAND test_trainer_pipeline $<TARGET_FILE:gen_dataset>)
set_tests_properties(trainer_pipeline_cpu PROPERTIES LABELS "pipeline" SKIP_RETURN_CODE 77 TIMEOUT 300
                     ENVIRONMENT "PAWPIPE_TEST_BACKEND=cpu;OMP_WAIT_POLICY=passive")
