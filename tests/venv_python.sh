#!/bin/sh
# venv_python.sh PYTHON SCRIPT ARGS...: run a Keras/TensorBoard interop test with the Python of
# scripts/dev pydeps; when that Python is missing the test fails and says how to make it (these tests
# must run, not skip).
py=$1
shift
if [ ! -x "$py" ]; then
    echo "error: no $py: run scripts/dev pydeps (the Python of the keras tests: TensorFlow, Keras 3, tf-keras, tensorboard)"
    exit 1
fi
exec "$py" "$@"
