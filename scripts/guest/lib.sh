# Shared helpers for the guest test scripts (busybox sh). Sourced as /guest/lib.sh.

FAILS=0
SECTION=
SECTION_START=

uptime_cs() { # uptime in centiseconds, from /proc/uptime ("123.45 ...")
  read -r up _ < /proc/uptime
  echo "${up%.*}${up#*.}" | sed 's/^0*//; s/^$/0/'
}

section() {
  end_section
  SECTION=$1
  SECTION_START=$(uptime_cs)
  echo "== $SECTION"
}

end_section() {
  [ -n "$SECTION" ] || return 0
  local t
  t=$(( $(uptime_cs) - SECTION_START ))
  echo "== $SECTION done in $((t / 100)).$(printf %02d $((t % 100))) s"
  SECTION=
}

fail() {
  echo "FAIL [$SECTION]: $*"
  FAILS=$((FAILS + 1))
}

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
  if [ "$2" = "$3" ]; then echo "ok   $1"; else fail "$1: got '$2', expected '$3'"; fi
}

# expect_ok WHAT CMD...   the command must succeed
expect_ok() {
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else fail "$what: '$*' failed with $?"; fi
}

# expect_fail WHAT CMD...  the command must fail
expect_fail() {
  local what=$1
  shift
  if "$@" 2>/dev/null; then fail "$what: '$*' succeeded, expected failure"; else echo "ok   $what"; fi
}

# The exit status of the script: 0 only if no check failed.
finish_checks() {
  end_section
  if [ "$FAILS" -ne 0 ]; then
    echo "guest checks: $FAILS FAILED"
    exit 1
  fi
  echo "guest checks: all passed"
  exit 0
}
