# tests/lib.sh - the preamble every tests/cli_*.sh shares; each sources it
# after its own `set` line:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# The scripts are run as `bash tests/cli_NAME.sh RECUR_BINARY SOURCE_DIR
# [EXAMPLES_DIR]` (tests/CMakeLists.txt; .ci/run's valgrind pass, where
# RECUR_BINARY is a wrapper that runs recur under valgrind). This file is not
# a test itself: ctest and .ci/run pick up cli_*.sh only.
#
# Sets recur, src and examples (the arguments), tmp (a fresh directory,
# removed on exit by `cleanup`, which a script may redefine to do more) and
# the counters pass and fail; defines ok, bad, expect and finish.
# shellcheck shell=bash disable=SC2034  # (variables for the sourcing script)

recur=${1:?usage: ${0##*/} RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]}
src=${2:?usage: ${0##*/} RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]}
examples=${3:-}

tmp=$(mktemp -d)
cleanup() { [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect CODE DESCRIPTION -- COMMAND...
# expect CODE FRAGMENT DESCRIPTION -- COMMAND...
# COMMAND exits with status CODE; for an error (CODE not 0), exactly one line
# on stderr, starting with "recur" (and holding FRAGMENT when given). Its
# stdout and stderr are left in $tmp/out and $tmp/err; its stdin is the file
# $expect_stdin when that is set, else the script's.
expect() {
    local code=$1 frag="" what=$2
    if [ "$3" != -- ]; then
        frag=$2 what=$3
        shift
    fi
    shift 3
    if [ -n "${expect_stdin:-}" ]; then
        "$@" <"$expect_stdin" >"$tmp/out" 2>"$tmp/err"
    else
        "$@" >"$tmp/out" 2>"$tmp/err"
    fi
    local got=$?
    if [ "$got" != "$code" ]; then
        bad "$what: exit $got, expected $code ($(head -c 300 "$tmp/err"))"
        return 1
    fi
    if [ "$code" != 0 ]; then
        if [ "$(wc -l <"$tmp/err")" != 1 ] || ! grep -q '^recur' "$tmp/err"; then
            bad "$what: expected one 'recur ...' line on stderr, got: $(head -c 600 "$tmp/err")"
            return 1
        fi
        if [ -n "$frag" ] && ! grep -qF -- "$frag" "$tmp/err"; then
            bad "$what: message lacks '$frag': $(cat "$tmp/err")"
            return 1
        fi
    fi
    ok
}

# finish [NOTE]: the summary line; the script's status (0 when nothing failed)
# when it is the script's last command.
# shellcheck disable=SC2120  # (NOTE is optional)
finish() {
    echo "$pass passed, $fail failed${1:+ $1}"
    [ "$fail" = 0 ]
}
