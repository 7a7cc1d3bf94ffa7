#!/bin/sh
# Entrypoint of the pgbouncer-rw / pgbouncer-ro services: renders the shared template
# (pgbouncer/pgbouncer.ini.template, also used by scripts/stack) and the auth file from the
# environment, then runs PgBouncer in the foreground (logs to stderr).
#
# POSIX sh + awk only (the image is Alpine/busybox, without envsubst). Stricter than
# envsubst: a ${VAR} of the template that is not set in the environment is an error rather
# than an empty string (an empty value that is set is fine).
set -eu

TEMPLATE=${PGBOUNCER_TEMPLATE:-/etc/pgbouncer/pgbouncer.ini.template}
RUN_DIR=${PGBOUNCER_RUN_DIR:-/tmp/pgbouncer}
: "${PGBOUNCER_AUTH_USER:?}" "${PGBOUNCER_AUTH_PASSWORD:?}"

umask 077
mkdir -p "$RUN_DIR"

# auth_file format: "user" "password", with " doubled inside a value. A plain-text password
# lets PgBouncer run SCRAM towards both the clients and PostgreSQL.
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
printf '%s %s\n' "$(quote "$PGBOUNCER_AUTH_USER")" "$(quote "$PGBOUNCER_AUTH_PASSWORD")" >"$RUN_DIR/userlist.txt"

# Values that only make sense inside the container: no unix socket, no log/pid files.
export PGBOUNCER_AUTH_FILE="$RUN_DIR/userlist.txt"
export PGBOUNCER_UNIX_SOCKET_DIR=""
export PGBOUNCER_LOGFILE=""
export PGBOUNCER_PIDFILE=""

# Comment lines are copied as they are (the template documents its ${VARS} in comments).
awk '
/^[ \t]*[;#]/ { print; next }
{
    out = ""
    line = $0
    while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
        name = substr(line, RSTART + 2, RLENGTH - 3)
        if (!(name in ENVIRON)) {
            printf "pgbouncer entrypoint: %s is not set (template line %d)\n", name, NR > "/dev/stderr"
            failed = 1
        }
        out = out substr(line, 1, RSTART - 1) ENVIRON[name]
        line = substr(line, RSTART + RLENGTH)
    }
    print out line
}
END { exit failed }
' "$TEMPLATE" >"$RUN_DIR/pgbouncer.ini"

# `--render-only`: print the rendered config and stop (scripts/check-deploy uses it to prove
# that the compose environment defines every variable of the template).
if [ "${1:-}" = "--render-only" ]; then
    cat "$RUN_DIR/pgbouncer.ini"
    exit 0
fi

exec pgbouncer "$RUN_DIR/pgbouncer.ini"
