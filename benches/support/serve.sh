# Shared by the benchmark scripts (sourced, not run): a scratch directory
# removed on exit, and starting and stopping one server at a time on
# 127.0.0.1.
#
# After sourcing: $work is the scratch directory; `start NAME VAR CMD...`
# runs CMD in the background, waits for its `VAR=url` line and sets $pid and
# $url; `stop` ends it. A server still running at exit is stopped.

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start() {
    local name=$1 var=$2
    shift 2
    # Emptied here, not by the child's redirection: a URL left in the file
    # by an earlier server of the same name must never be read.
    : >"$work/$name.out"
    "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pid=$!
    url=
    for _ in $(seq 100); do
        url=$(sed -n "s/^$var=//p" "$work/$name.out")
        [ -n "$url" ] && break
        sleep 0.05
    done
    [ -n "$url" ] || {
        echo "$name did not print $var= (see $work/$name.err)" >&2
        exit 1
    }
}

stop() {
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}
