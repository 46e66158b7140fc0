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
