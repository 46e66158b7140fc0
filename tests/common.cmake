# Tests of common/: flags, checks, the counter-based generator, logging set-up, process helpers; and
# of tests/expect.sh, which other areas register output checks through.
add_executable(test_common test_common.c)
target_link_libraries(test_common common testlib Threads::Threads)
add_test(NAME common COMMAND test_common)
set_tests_properties(common PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77)

# tests/expect.sh (tests that check a command's output and status) passes only when both are right.
add_test(NAME expect_sh COMMAND sh -c
         "sh \"$0\" 3 '^x$' -- sh -c 'echo x; exit 3' && ! sh \"$0\" 0 '^x$' -- sh -c 'echo x; exit 1' && ! sh \"$0\" 0 '^y$' -- echo x && ! sh \"$0\" 0 x -- sh -c 'echo x; kill -9 $$' && echo 'expect.sh checks both'"
         ${CMAKE_CURRENT_SOURCE_DIR}/expect.sh)
set_tests_properties(expect_sh PROPERTIES LABELS "unit")
