# Tests of the evaluator: metrics, history.csv and the learning curves (unit), and the stage itself
# on a generated data set: scores equal a direct forward pass, feature-map grids, predictions, and
# the checkpoint stream (start before / during a run, restart, falling behind).
add_executable(test_evaluator_metrics test_evaluator_metrics.c)
target_link_libraries(test_evaluator_metrics evaluator_lib testlib)
add_test(NAME evaluator_metrics COMMAND test_evaluator_metrics)
set_tests_properties(evaluator_metrics PROPERTIES LABELS "unit;pipeline" SKIP_RETURN_CODE 77 TIMEOUT 60)
