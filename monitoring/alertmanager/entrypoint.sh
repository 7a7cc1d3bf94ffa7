#!/bin/sh
# Entrypoint of the alertmanager service (docker-compose.monitoring.yml): renders the template
# monitoring/alertmanager.yml with the receivers' settings from the environment, then runs
# Alertmanager on the result with the arguments it was given.
#
# Template syntax (see the head of monitoring/alertmanager.yml): lines between `# @if VAR` and
# `# @end` are uncommented when VAR is set and not empty, dropped otherwise; ${VAR}s in them are
# replaced by the value, escaped for a double-quoted YAML string. A ${VAR} that is not set in
# the environment is an error (an empty value that is set is fine). Other lines are copied.
#
#   entrypoint.sh [ALERTMANAGER ARGS...]   render to $ALERTMANAGER_RENDERED, exec alertmanager
#   entrypoint.sh --render-only            print the rendering (scripts/check-deploy checks it)
#
# POSIX sh + awk only: the image is busybox.
set -eu

TEMPLATE=${ALERTMANAGER_TEMPLATE:-/etc/alertmanager/alertmanager.yml}
RENDERED=${ALERTMANAGER_RENDERED:-/tmp/alertmanager.yml}

fail() { printf 'alertmanager entrypoint: %s\n' "$*" >&2; exit 1; }

# E-mail goes through the app's relay: it needs one, and SMTP_TLS in the app's vocabulary.
if [ -n "${ALERT_EMAIL_TO:-}" ]; then
    [ -n "${SMTP_HOST:-}" ] || fail "ALERT_EMAIL_TO is set but SMTP_HOST is empty: no relay to send through"
    case ${SMTP_TLS:-required} in
    required) ALERT_SMTP_REQUIRE_TLS=true ;;
    none) ALERT_SMTP_REQUIRE_TLS=false ;;
    *) fail "SMTP_TLS must be 'required' or 'none', not '${SMTP_TLS}'" ;;
    esac
    export ALERT_SMTP_REQUIRE_TLS
fi

render() {
    awk '
    # Escaped for a double-quoted YAML string (char by char: gsub replacements treat "\\"
    # differently in different awks).
    function esc(s,    r, i, c) {
        r = ""
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c == "\\" || c == "\"") r = r "\\"
            r = r c
        }
        return r
    }
    /^[ \t]*# @if [A-Za-z_][A-Za-z0-9_]*[ \t]*$/ {
        name = $3
        depth++
        on[depth] = (name in ENVIRON) && ENVIRON[name] != "" && (depth == 1 || on[depth - 1])
        next
    }
    /^[ \t]*# @end[ \t]*$/ {
        if (depth == 0) { printf "template line %d: @end without @if\n", NR > "/dev/stderr"; failed = 1 }
        else depth--
        next
    }
    depth == 0 { print; next }
    !on[depth] { next }
    {
        line = $0
        sub(/# ?/, "", line)    # uncomment: the first "# " after the indentation
        out = ""
        while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
            name = substr(line, RSTART + 2, RLENGTH - 3)
            if (!(name in ENVIRON)) {
                printf "template line %d: %s is not set\n", NR, name > "/dev/stderr"
                failed = 1
            }
            out = out substr(line, 1, RSTART - 1) esc(ENVIRON[name])
            line = substr(line, RSTART + RLENGTH)
        }
        print out line
    }
    END {
        if (depth != 0) { print "template: @if without @end" > "/dev/stderr"; failed = 1 }
        exit failed
    }
    ' "$TEMPLATE"
}

if [ "${1:-}" = "--render-only" ]; then
    render
    exit 0
fi

umask 077    # the rendering holds the SMTP password
render >"$RENDERED" || fail "cannot render $TEMPLATE"
exec /bin/alertmanager --config.file="$RENDERED" "$@"
