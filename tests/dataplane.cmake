# Data-plane tests: the loader, the augmenters, the trainer's end of the batch stream and its dry
# run; unit tests without sockets, whole pipelines as threads over inproc://, and real processes
# over tcp://127.0.0.1 (tests/dataplane_procs.sh).
add_library(dataplane_fixtures STATIC dataplane_fixtures.c)
target_link_libraries(dataplane_fixtures PUBLIC common testlib PkgConfig::VIPS m)

add_executable(test_dataplane_unit test_dataplane_unit.c)
target_link_libraries(test_dataplane_unit loader_lib augmenter_lib dataplane_fixtures testlib)
add_test(NAME dataplane_unit COMMAND test_dataplane_unit)
set_tests_properties(dataplane_unit PROPERTIES LABELS "unit;pipeline" SKIP_RETURN_CODE 77 TIMEOUT 60)


add_executable(dataplane_dryrun test_dataplane_dryrun.c)
target_link_libraries(dataplane_dryrun trainer_lib)

add_executable(test_dataplane_pipeline test_dataplane_pipeline.c)
target_link_libraries(test_dataplane_pipeline loader_lib augmenter_lib trainer_lib dataplane_fixtures testlib
                      Threads::Threads)
add_test(NAME dataplane_pipeline COMMAND test_dataplane_pipeline)
set_tests_properties(dataplane_pipeline PROPERTIES LABELS "pipeline" SKIP_RETURN_CODE 77 TIMEOUT 120)

add_executable(dataplane_mkdata test_dataplane_mkdata.c)
target_link_libraries(dataplane_mkdata dataplane_fixtures image)

# Real processes over TCP: the consumer is `trainer --dry-run` (the flow scenario's consumer that
# stops reading is the test driver dataplane_dryrun --pause-after).
foreach(scenario determinism badinput flow quiet late)
  add_test(NAME dataplane_procs_${scenario}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/dataplane_procs.sh ${CMAKE_BINARY_DIR}/bin ${scenario}
                   $<TARGET_FILE:trainer> --dry-run)
  set_tests_properties(dataplane_procs_${scenario} PROPERTIES LABELS "pipeline" SKIP_RETURN_CODE 77 TIMEOUT 90)
endforeach()

# dataplane_unit and dataplane_pipeline again with a 64 MiB /dev/shm of their own, as in a Docker
# container (a mount namespace; needs root): the augmenters' shared caches must fit it.
foreach(t unit pipeline)
  add_test(NAME dataplane_${t}_small_shm
           COMMAND sh -c "[ \"$(id -u)\" -eq 0 ] || { echo 'SKIP: needs root (a mount namespace)'; exit 77; }; exec unshare --mount --propagation private sh -c 'mount -t tmpfs -o size=64m tmpfs /dev/shm && exec \"$0\"' \"$0\""
                   $<TARGET_FILE:test_dataplane_${t}>)
  set_tests_properties(dataplane_${t}_small_shm PROPERTIES LABELS "pipeline" SKIP_RETURN_CODE 77 TIMEOUT 120)
endforeach()
