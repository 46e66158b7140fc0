# The pipeline across hosts: network namespaces joined by veth pairs (one per host, each with its
# own /dev/shm), every stage over tcp:// with CURVE, and a client whose key is not admitted
# (net_intruder) pushing batches and subscribing (tests/multihost.sh). Needs root and iproute2;
# skips (77) without them.
add_executable(net_intruder net_intruder.c)
target_link_libraries(net_intruder proto common)

add_test(NAME multihost
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/multihost.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(multihost PROPERTIES LABELS "pipeline;net" SKIP_RETURN_CODE 77 TIMEOUT 240)
