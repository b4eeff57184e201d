#!/bin/bash
# dedup8_tools.sh - mqe2e-pub and mqe2e-sub handle the command line through
# one piece of client/tool.c (tool_opt, tool_args_end), and each still
# answers for itself: --help prints its own usage and exits 0, --version its
# name, an unknown option says "Try 'TOOL --help'." and a left-over argument
# is named, both exit 1 (usage) before anything touches the network.
. "$top_srcdir/tests/lib.sh"

# run WANT TOOL ARGS...: exit WANT, stdout in $T_DIR/out, stderr in $T_DIR/err
run() {
	local want=$1 rc
	shift
	"$@" >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	[ "$rc" = "$want" ] || { cat "$T_DIR/out" "$T_DIR/err" >&2; t_fail "exit $rc, expected $want: $*"; }
}
for tool in mqe2e-pub mqe2e-sub; do
	bin="$top_builddir/client/$tool"
	[ -x "$bin" ] || t_skip "$tool not built"
	run 0 "$bin" --help
	grep -q "^usage: $tool " "$T_DIR/out" || t_fail "$tool --help is not its own usage"
	grep -q -- "--tls-cafile" "$T_DIR/out" || t_fail "$tool --help lacks the common options"
	[ -s "$T_DIR/err" ] && t_fail "$tool --help wrote to stderr: $(cat "$T_DIR/err")"
	run 0 "$bin" --version
	grep -q "^$tool " "$T_DIR/out" || t_fail "$tool --version: $(cat "$T_DIR/out")"
	run 1 "$bin" --no-such-option -t x
	grep -qx "Try '$tool --help'." "$T_DIR/err" || t_fail "$tool, unknown option: $(cat "$T_DIR/err")"
	run 1 "$bin" -t x/y left-over
	grep -qx "$tool: unexpected argument 'left-over' (try --help)" "$T_DIR/err" ||
		t_fail "$tool, left-over argument: $(cat "$T_DIR/err")"
	# a bad value of a common option is that option's message, not "Try"
	run 1 "$bin" -t x -q 7
	grep -q "QoS" "$T_DIR/err" && ! grep -q "^Try" "$T_DIR/err" ||
		t_fail "$tool -q 7: $(cat "$T_DIR/err")"
done
t_log "mqe2e-pub and mqe2e-sub: --help, --version, unknown options and left-over arguments"
exit 0
