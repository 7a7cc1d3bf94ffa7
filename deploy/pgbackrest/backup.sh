#!/usr/bin/env bash
# Scheduled backups of the primary with pgBackRest, and their metrics in node-exporter's
# textfile format. Runs as the postgres OS user, in the native stack (scripts/stack starts it)
# and as compose's `backup` service, with the same policy file (deploy/pgbackrest/pgbackrest.conf).
#
#   backup.sh loop              forever: every BACKUP_CHECK_INTERVAL seconds, a full backup when
#                               the last full one is older than BACKUP_FULL_EVERY (or there is
#                               none), else an incremental one when the last backup of any kind
#                               is older than BACKUP_INCR_EVERY
#   backup.sh full|diff|incr    one backup now (then the metrics)
#   backup.sh metrics           only rewrite the metrics file
#
# Environment: PGBACKREST_* (pgBackRest's own: config, paths, stanza), BACKUP_STATE_DIR (the
# schedule's state and backup.prom, default /var/lib/pgbackrest-metrics), BACKUP_FULL_EVERY
# (604800 s, weekly), BACKUP_INCR_EVERY (86400 s, daily), BACKUP_CHECK_INTERVAL (300 s),
# PGHOST/PGPORT (where the primary answers psql, for the WAL archive's age).
set -uo pipefail

STATE_DIR=${BACKUP_STATE_DIR:-/var/lib/pgbackrest-metrics}
FULL_EVERY=${BACKUP_FULL_EVERY:-604800}
INCR_EVERY=${BACKUP_INCR_EVERY:-86400}
CHECK_INTERVAL=${BACKUP_CHECK_INTERVAL:-300}
STATE=$STATE_DIR/backup.state
export PGBACKREST_STANZA=${PGBACKREST_STANZA:-dearme}

log() { printf '%s [backup] %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# The state file: one `name value` line each (last_full, last_any, last_run, last_ok, size_*).
state_get() { [[ -f $STATE ]] && awk -v k="$1" '$1 == k { print $2 }' "$STATE" | tail -n 1; }
state_set() {
    local tmp=$STATE.tmp
    { [[ -f $STATE ]] && awk -v k="$1" '$1 != k' "$STATE"; echo "$1 $2"; } >"$tmp" && mv "$tmp" "$STATE"
}

# Bytes of the newest backup set in the repository (what the backup just wrote).
newest_set_size() {
    local sets="${PGBACKREST_REPO1_PATH:-/var/lib/pgbackrest}/backup/$PGBACKREST_STANZA" newest
    newest=$(find "$sets" -mindepth 1 -maxdepth 1 -type d -name '2*' -printf '%f\n' 2>/dev/null | sort | tail -n 1)
    [[ -n $newest ]] && du -sb "$sets/$newest" | cut -f1 || echo 0
}

# One gauge in the textfile format: name, help, value (no sample line when the value is empty).
gauge() {
    echo "# HELP $1 $2"
    echo "# TYPE $1 gauge"
    [[ -z $3 ]] || echo "$1 $3"
}

# A gauge with a sample per backup kind, from the state's `<prefix>_<kind>` lines.
per_kind() { # name, help, state prefix
    local kind value
    echo "# HELP $1 $2"
    echo "# TYPE $1 gauge"
    for kind in full diff incr; do
        value=$(state_get "${3}_$kind")
        [[ -z $value ]] || echo "$1{kind=\"$kind\"} $value"
    done
}

write_metrics() {
    local tmp=$STATE_DIR/backup.prom.tmp archived repo
    archived=$(psql -X -At -d postgres -c \
        "select coalesce(extract(epoch from last_archived_time)::bigint, 0) from pg_stat_archiver" 2>/dev/null)
    repo=$(du -sb "${PGBACKREST_REPO1_PATH:-/var/lib/pgbackrest}" 2>/dev/null | cut -f1)
    {
        gauge backup_last_run_timestamp_seconds "When the last backup attempt ended." "$(state_get last_run)"
        gauge backup_last_run_success "Whether the last backup attempt succeeded (1) or failed (0)." "$(state_get last_ok)"
        per_kind backup_last_success_timestamp_seconds "When the last successful backup of each kind ended." last
        per_kind backup_size_bytes "Size in the repository of the latest backup of each kind." size
        gauge backup_repo_size_bytes "Size of the whole backup repository (backups and WAL)." "${repo:-0}"
        gauge backup_wal_archive_last_success_timestamp_seconds "When PostgreSQL last archived a WAL segment." \
            "${archived:-0}"
    } >"$tmp" && mv "$tmp" "$STATE_DIR/backup.prom"
}

# One backup of `kind`; records the outcome and rewrites the metrics. Fails when pgBackRest does.
run_backup() {
    local kind=$1 started=$SECONDS ok=0 now
    log "$kind backup starting"
    # Idempotent: creates the stanza on the first run, checks it on the others.
    pgbackrest stanza-create >/dev/null && pgbackrest --type="$kind" backup && ok=1
    now=$(date +%s)
    state_set last_run "$now"
    state_set last_ok "$ok"
    if ((ok)); then
        state_set "last_$kind" "$now"
        state_set last_any "$now"
        state_set "size_$kind" "$(newest_set_size)"
        log "$kind backup done in $((SECONDS - started)) s"
    else
        log "$kind backup FAILED after $((SECONDS - started)) s"
    fi
    write_metrics
    ((ok))
}

due_kind() { # prints full, incr or nothing
    local now last_full last_any
    now=$(date +%s)
    last_full=$(state_get last_full)
    last_any=$(state_get last_any)
    if [[ -z $last_full ]] || ((now - last_full >= FULL_EVERY)); then
        echo full
    elif [[ -z $last_any ]] || ((now - last_any >= INCR_EVERY)); then
        echo incr
    fi
}

mkdir -p "$STATE_DIR"
case ${1:-} in
loop)
    trap 'log "stopping"; exit 0' TERM INT
    while true; do
        kind=$(due_kind)
        if [[ -n $kind ]]; then run_backup "$kind"; else write_metrics; fi
        sleep "$CHECK_INTERVAL" &
        wait $!
    done
    ;;
full | diff | incr) run_backup "$1" ;;
metrics) write_metrics ;;
*)
    echo "usage: backup.sh loop | full | diff | incr | metrics" >&2
    exit 2
    ;;
esac
