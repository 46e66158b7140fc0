# Tests of proto/: the codec (test_proto), two processes over ipc:// (test_proto_ipc), and with
# PAWPIPE_FUZZ=ON (clang) a libFuzzer run of the decoder seeded from test_proto --write-seeds.
add_executable(test_proto test_proto.c test_proto_samples.c)
target_link_libraries(test_proto proto testlib)
add_test(NAME proto COMMAND test_proto)

add_executable(test_proto_ipc test_proto_ipc.c test_proto_samples.c)
target_link_libraries(test_proto_ipc proto testlib)
add_test(NAME proto_ipc COMMAND test_proto_ipc)

# proto/net.c: keys, the loopback rule, CURVE with an allow folder, bad-traffic counts (TCP on 127.0.0.1).
add_executable(test_net test_net.c)
target_link_libraries(test_net proto testlib)
add_test(NAME proto_net COMMAND test_net)

# (Under PAWPIPE_ASAN and PAWPIPE_FUZZ, tests/CMakeLists.txt makes every test halt on a UBSan report.)
set_tests_properties(proto proto_ipc proto_net PROPERTIES LABELS "proto;unit" SKIP_RETURN_CODE 77 TIMEOUT 120)

if(PAWPIPE_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PAWPIPE_FUZZ needs clang (CC=clang); this is ${CMAKE_C_COMPILER_ID}")
  endif()
  pawpipe_fuzzer(fuzz_proto proto_fuzz fuzz_proto.c test_proto_samples.c)
  add_dependencies(fuzz_proto test_proto)   # writes the seed corpus

  set(corpus ${CMAKE_BINARY_DIR}/fuzz_proto_corpus)
  add_test(NAME proto_fuzz_seeds COMMAND ${CMAKE_COMMAND} -E make_directory ${corpus})
  add_test(NAME proto_fuzz_seeds_write
           COMMAND test_proto --write-seeds ${corpus} ${CMAKE_BINARY_DIR}/fuzz_proto.dict)
  add_test(NAME proto_fuzz
           COMMAND fuzz_proto -max_total_time=10 -dict=${CMAKE_BINARY_DIR}/fuzz_proto.dict
                   -print_final_stats=1 ${corpus})
  set_tests_properties(proto_fuzz_seeds PROPERTIES LABELS "fuzz" FIXTURES_SETUP proto_corpus_dir)
  set_tests_properties(proto_fuzz_seeds_write PROPERTIES LABELS "fuzz" FIXTURES_REQUIRED proto_corpus_dir
                       FIXTURES_SETUP proto_corpus)
  set_tests_properties(proto_fuzz PROPERTIES LABELS "fuzz" FIXTURES_REQUIRED proto_corpus TIMEOUT 120)
endif()
