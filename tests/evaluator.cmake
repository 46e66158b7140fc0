# Tests of the evaluator: metrics, history.csv and the learning curves (unit), and the stage itself
# on a generated data set: scores equal a direct forward pass, feature-map grids, predictions, and
# the checkpoint stream (start before / during a run, restart, falling behind).
add_executable(test_evaluator_metrics test_evaluator_metrics.c)
target_link_libraries(test_evaluator_metrics evaluator_lib testlib)
add_test(NAME evaluator_metrics COMMAND test_evaluator_metrics)
set_tests_properties(evaluator_metrics PROPERTIES LABELS "unit;pipeline" SKIP_RETURN_CODE 77 TIMEOUT 60)

# The one-shot commands and the binary on a data set written by gen_dataset.
add_executable(test_evaluator_stage test_evaluator_stage.c)
target_link_libraries(test_evaluator_stage evaluator_lib testlib)
add_dependencies(test_evaluator_stage gen_dataset evaluator)
add_test(NAME evaluator_stage COMMAND test_evaluator_stage $<TARGET_FILE:gen_dataset> $<TARGET_FILE:evaluator>)
set_tests_properties(evaluator_stage PROPERTIES LABELS "pipeline" SKIP_RETURN_CODE 77 TIMEOUT 60)

# The checkpoint stream: started before the trainer, mid-run, restarted, falling behind, bad
# checkpoints; threads over inproc:// and processes over tcp://127.0.0.1.
add_executable(test_evaluator_stream test_evaluator_stream.c)
target_link_libraries(test_evaluator_stream evaluator_lib testlib Threads::Threads)
add_dependencies(test_evaluator_stream gen_dataset evaluator)
add_test(NAME evaluator_stream COMMAND test_evaluator_stream $<TARGET_FILE:gen_dataset> $<TARGET_FILE:evaluator>)
set_tests_properties(evaluator_stream PROPERTIES LABELS "pipeline" SKIP_RETURN_CODE 77 TIMEOUT 90)

# scripts/pipeline end to end as a user runs it (a full short run, Ctrl-C, the script killed, the
# loader killed and restarted, its file replaced or rewritten mid-run), and no process of the run
# left after each.
foreach(scenario run interrupt killed loader edited trainer)
  add_test(NAME pipeline_script_${scenario}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/pipeline_script.sh ${CMAKE_BINARY_DIR}/bin ${scenario})
  set_tests_properties(pipeline_script_${scenario} PROPERTIES LABELS "pipeline" TIMEOUT 180
                       RESOURCE_LOCK cores)
endforeach()
