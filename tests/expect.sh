#!/bin/sh
# expect.sh CODE REGEX -- CMD [ARG...]: runs CMD with its stdout and stderr together, shows that
# output, and passes (exit 0) only when CMD exits with status CODE and the output matches REGEX (an
# extended regular expression, grep -E). ctest's PASS_REGULAR_EXPRESSION alone ignores the exit
# status, so tests that check output register through this instead.
if [ $# -lt 4 ] || [ "$3" != "--" ] || ! [ "$1" -ge 0 ] 2>/dev/null; then
    echo "usage: expect.sh CODE REGEX -- CMD [ARG...]" >&2
    exit 2
fi
code=$1
regex=$2
shift 3
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
fail=0
if [ "$rc" -ne "$code" ]; then
    echo "expect.sh: $1 exited with status $rc, expected $code"
    fail=1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
    echo "expect.sh: the output of $1 does not match /$regex/"
    fail=1
fi
[ $fail -eq 0 ] && echo "expect.sh: status $rc and output matching /$regex/, as expected"
exit $fail
