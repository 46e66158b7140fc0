# Keras interop (interop/keras*.c, docs/keras.md) against the real Keras 3 and tf.keras, with the
# Python of scripts/dev pydeps (tests/test_keras.py says what each case checks):
#   keras_export  a checkpoint trained here, exported as .h5 and .keras, loaded and run by Keras
#   keras_import  models trained in Keras 3, tf.keras and a Keras 2.0-style file scored here; --init-from
#   keras_errors  unmappable layers named; truncated and corrupted files refused without a crash
foreach(case export import errors)
  add_test(NAME keras_${case}
           COMMAND ${PAWPIPE_VENV_RUN} ${CMAKE_CURRENT_SOURCE_DIR}/test_keras.py ${CMAKE_SOURCE_DIR}
                   ${CMAKE_BINARY_DIR}/bin ${CMAKE_CURRENT_BINARY_DIR}/keras-work ${case})
  set_tests_properties(keras_${case} PROPERTIES LABELS "keras;pipeline" TIMEOUT 600)
endforeach()
set_tests_properties(keras_export keras_import PROPERTIES RESOURCE_LOCK cores)

# keras_io (unit, also under the sanitizers): round trips through both formats, configs of every Keras
# era mapped or refused by name, damaged files read in-process, the child-process reader.
add_executable(test_keras_io test_keras_io.c)
target_link_libraries(test_keras_io keras_io testlib pawpipe_jansson PkgConfig::HDF5)
add_test(NAME keras_io COMMAND test_keras_io ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/keras_io_tmp)
set_tests_properties(keras_io PROPERTIES LABELS "unit" TIMEOUT 120)
