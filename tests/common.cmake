# Tests of common/: flags, checks, the counter-based generator, logging set-up, process helpers.
add_executable(test_common test_common.c)
target_link_libraries(test_common common testlib Threads::Threads)
add_test(NAME common COMMAND test_common)
set_tests_properties(common PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77)
