# Sourced by scripts that start a long Python run which cleans up after itself (scripts/bench,
# scripts/bench-ab).
#
# forwarding_signals CMD...: runs CMD in the background and waits for it, passing SIGTERM and
# SIGINT on to it, then waits for its own cleanup. Run in the foreground, CMD would never hear a
# SIGTERM sent to the script (bash acts on it only once CMD is done), so what CMD started (API
# processes, an extra nginx) would outlive the script's EXIT trap.
forwarding_signals() {
    "$@" &
    local child=$! rc=0
    trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT
    wait "$child" || rc=$?
    # Interrupted by a signal passed on: CMD is still cleaning up.
    if kill -0 "$child" 2>/dev/null; then
        rc=0
        wait "$child" || rc=$?
    fi
    trap - TERM INT
    return "$rc"
}
