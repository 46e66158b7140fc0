# Bad traffic during a real run (tests/sockfuzz.sh): sockfuzz sends invalid messages to the loader's
# credit socket and the trainer's batch socket, and junk and wrong-type connections to every socket the
# stages bind; the run must finish unchanged and the stages' counts of rejected messages and refused
# connections must be exactly what was sent, with a few log lines for thousands of bad messages.
add_executable(sockfuzz sockfuzz.c test_proto_samples.c)
target_link_libraries(sockfuzz proto PkgConfig::MSGPACK PkgConfig::ZMQ)
target_include_directories(sockfuzz PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})   # test_proto_samples.h

add_test(NAME sockfuzz COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sockfuzz.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(sockfuzz PROPERTIES LABELS "pipeline;net" SKIP_RETURN_CODE 77 TIMEOUT 120)
