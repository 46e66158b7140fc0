# Tests of image/ (decode, sampler, cache, data set index, grids) and tools/gen_dataset, plus the
# augmentation benchmark (an executable only: bench/augment.sh runs it).
add_executable(test_augment test_augment.c)
target_link_libraries(test_augment image testlib)
add_test(NAME image_augment COMMAND test_augment)

add_executable(test_decode test_decode.c)
target_link_libraries(test_decode image testlib)
add_test(NAME image_decode COMMAND test_decode ${PAWPIPE_TEST_DATA}/image_decode)

add_executable(test_dataset test_dataset.c)
target_link_libraries(test_dataset image testlib)
add_dependencies(test_dataset gen_dataset)   # the test runs it
add_test(NAME image_dataset COMMAND test_dataset $<TARGET_FILE:gen_dataset> ${PAWPIPE_TEST_DATA}/image_dataset)

set_tests_properties(image_augment image_decode image_dataset PROPERTIES LABELS "image;unit" SKIP_RETURN_CODE 77)

add_executable(bench_augment ${CMAKE_SOURCE_DIR}/bench/augment.c)
target_link_libraries(bench_augment image)

# The findings of the decode fuzzer and of the sanitizer builds, one case each, and the augmenter's
# handling of such files (tests/test_decode_regress.c); tests/craft_jpeg.c writes JPEGs byte by byte.
add_library(craft_jpeg STATIC craft_jpeg.c)
add_executable(test_decode_regress test_decode_regress.c)
target_link_libraries(test_decode_regress augmenter_lib image craft_jpeg dataplane_fixtures testlib)
add_test(NAME image_decode_regress COMMAND test_decode_regress)
set_tests_properties(image_decode_regress PROPERTIES LABELS "image;unit" SKIP_RETURN_CODE 77 TIMEOUT 120)

# With PAWPIPE_FUZZ=ON (clang): a libFuzzer run of img_decode (tests/fuzz_decode.c) for 60 s, seeded
# by fuzz_decode_seeds (images of every kind written with libvips at test time, good and broken). A
# decode over 10 s counts as a hang; what libvips allocates is capped at 2 GB. A crash, leak or hang
# leaves its input in the build folder as fuzz_decode-crash-*, -leak-*, -timeout-*; each finding
# becomes a case of test_decode_regress. To fuzz longer, from the build folder:
#   bin/fuzz_decode -timeout=10 -dict=../tests/fuzz_decode.dict fuzz_decode_corpus
if(PAWPIPE_FUZZ)
  add_executable(fuzz_decode_seeds fuzz_decode_seeds.c)
  target_link_libraries(fuzz_decode_seeds craft_jpeg PkgConfig::VIPS)

  pawpipe_fuzzer(fuzz_decode image_fuzz fuzz_decode.c)
  add_dependencies(fuzz_decode fuzz_decode_seeds)   # writes the seed corpus

  set(decode_corpus ${CMAKE_BINARY_DIR}/fuzz_decode_corpus)
  add_test(NAME image_fuzz_seeds COMMAND ${CMAKE_COMMAND} -E make_directory ${decode_corpus})
  add_test(NAME image_fuzz_seeds_write COMMAND fuzz_decode_seeds ${decode_corpus})
  add_test(NAME image_fuzz
           COMMAND fuzz_decode -max_total_time=60 -timeout=10 -rss_limit_mb=2048 -max_len=65536
                   -dict=${CMAKE_CURRENT_SOURCE_DIR}/fuzz_decode.dict
                   -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz_decode- -print_final_stats=1 ${decode_corpus})
  set_tests_properties(image_fuzz_seeds PROPERTIES LABELS "fuzz" FIXTURES_SETUP image_corpus_dir)
  set_tests_properties(image_fuzz_seeds_write PROPERTIES LABELS "fuzz" FIXTURES_REQUIRED image_corpus_dir
                       FIXTURES_SETUP image_corpus)
  set_tests_properties(image_fuzz PROPERTIES LABELS "fuzz" FIXTURES_REQUIRED image_corpus TIMEOUT 180)
endif()
