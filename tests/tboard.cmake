# Tests of the TensorBoard event files (interop/tboard.c, docs/tensorboard.md).
# tboard (unit): CRC-32C and its mask, the framing and Event bytes against a record TensorFlow wrote,
# files read back and decoded with the protobuf-c code generated from tboard.proto, clear errors.
add_executable(test_tboard test_tboard.c)
target_include_directories(test_tboard PRIVATE ${CMAKE_BINARY_DIR}/interop)   # tboard.pb-c.h
target_link_libraries(test_tboard tboard testlib PkgConfig::PROTOBUF_C)
add_test(NAME tboard COMMAND test_tboard)
set_tests_properties(tboard PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77 TIMEOUT 60)

# tboard_keras: tboard.proto's fields against TensorBoard's own descriptors; a short pipeline run read
# back with TensorBoard's EventAccumulator (epoch values equal history.csv's, batch values present);
# a real Keras 3 run writing the same run names, tags and plugin. With the Python of scripts/dev
# pydeps (tests/venv_python.sh: missing, the test fails and says so).
add_test(NAME tboard_keras COMMAND ${PAWPIPE_VENV_RUN} ${CMAKE_CURRENT_SOURCE_DIR}/test_tboard.py
         --bin ${CMAKE_BINARY_DIR}/bin --root ${CMAKE_SOURCE_DIR})
set_tests_properties(tboard_keras PROPERTIES LABELS "keras;pipeline" TIMEOUT 180 RESOURCE_LOCK cores)
