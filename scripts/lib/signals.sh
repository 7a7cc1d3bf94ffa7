# Sourced by scripts that start a long Python run which cleans up after itself (scripts/bench,
# scripts/bench-ab).
#
# forwarding_signals CMD...: runs CMD in the background and waits for it, passing the first SIGTERM
# or SIGINT sent to the script on to it as SIGTERM, then waits for its cleanup to end and dies of
# that signal itself (the caller's EXIT trap runs). Run in the foreground, CMD would never hear a
# SIGTERM sent to the script (bash acts on it only once CMD is done), so what CMD started (API
# processes, an extra nginx) would outlive the script's EXIT trap.
forwarding_signals() {
    local child='' signal='' rc=0
    # Set before CMD starts: a signal in between is passed on as soon as there is a child. Only
    # the first is passed on: a second one would cut CMD's cleanup short.
    trap '[[ -n $signal ]] || { signal=TERM; [[ -z $child ]] || kill -TERM "$child" 2>/dev/null || true; }' TERM
    trap '[[ -n $signal ]] || { signal=INT; [[ -z $child ]] || kill -TERM "$child" 2>/dev/null || true; }' INT
    "$@" &
    child=$!
    [[ -z $signal ]] || kill -TERM "$child" 2>/dev/null || true
    # `wait` returns early on every signal; CMD may still be cleaning up.
    while kill -0 "$child" 2>/dev/null; do
        wait "$child" || true
    done
    # CMD's own exit status (bash keeps it for a child already reaped).
    wait "$child" || rc=$?
    trap - TERM INT
    if [[ -n $signal ]]; then
        kill -"$signal" $$
    fi
    return "$rc"
}
