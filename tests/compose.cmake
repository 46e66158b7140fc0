# Docker tests (label compose): the images, compose.yaml under docker-compose and on a one-node
# Docker Swarm, and the GPU files, each as a user runs them (tests/compose_*.sh, shared parts in
# tests/compose_lib.sh). compose_setup installs what is missing (docker.io, docker-compose,
# debootstrap), starts dockerd when none answers, makes the Debian base image when it is missing and
# builds the CPU image once for the run; compose_teardown undoes what a killed test left and stops
# the dockerd that compose_setup started. State between them: build/compose-test/.
#   compose_up      up --scale augmenter=2 as a non-root uid returns 0 by itself; outputs are that uid's
#   compose_faults  scaled to 3, an augmenter and the trainer SIGKILLed mid-run: restarted, resumed,
#                   the final checkpoint equal to scripts/pipeline's run without faults
#   compose_late    an evaluator attached after the end scores the checkpoints; late stages exit 0
#   compose_swarm   docker stack deploy with CURVE keys as secrets, docker service scale, completion,
#                   docker stack rm
#   compose_gpu     the GPU image from NVIDIA's wheels, its libraries and no-GPU message; the GPU
#                   compose and Swarm files validated against the engine and Swarm's scheduler
# They run one at a time (RESOURCE_LOCK docker), and not beside the other CPU-heavy tests (cores).
set(COMPOSE_STATE ${CMAKE_BINARY_DIR}/compose-test)

add_test(NAME compose_setup COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/compose_setup.sh ${COMPOSE_STATE})
set_tests_properties(compose_setup PROPERTIES LABELS "compose" FIXTURES_SETUP compose TIMEOUT 600
                     RESOURCE_LOCK "docker;cores")

add_test(NAME compose_teardown COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/compose_teardown.sh ${COMPOSE_STATE})
set_tests_properties(compose_teardown PROPERTIES LABELS "compose" FIXTURES_CLEANUP compose TIMEOUT 120
                     RESOURCE_LOCK "docker")

foreach(t up faults late swarm gpu)
  add_test(NAME compose_${t}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/compose_${t}.sh ${COMPOSE_STATE} ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(compose_${t} PROPERTIES LABELS "compose" FIXTURES_REQUIRED compose TIMEOUT 300
                       RESOURCE_LOCK "docker;cores")
endforeach()
set_tests_properties(compose_gpu PROPERTIES TIMEOUT 600)
