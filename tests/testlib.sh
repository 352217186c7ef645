# Shared helpers of the shell tests; the caller sets TMP and sources this.
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_rc() { # expected_rc description command...
  local want=$1 what=$2; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  [ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want ($(head -c 400 "$TMP/err"))"
}
expect_err() { grep -q -- "$1" "$TMP/err" || fail "stderr lacks \"$1\": $(head -c 400 "$TMP/err")"; }
