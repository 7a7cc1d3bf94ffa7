#!/usr/bin/env bash
# Entrypoint of postgres-replica (official postgres image). On first start (empty data
# directory) it clones the primary with pg_basebackup -R, which also writes the standby
# configuration (standby.signal + primary_conninfo + primary_slot_name); then it hands over
# to the image's own entrypoint, which just starts the existing cluster.
#
# Re-seeding a broken replica: stop it, delete its volume, start it again.
set -Eeuo pipefail

: "${PGDATA:?}" "${PRIMARY_HOST:?}" "${REPLICATION_PASSWORD:?}"
: "${PRIMARY_PORT:=5432}" "${REPLICATION_USER:=replicator}" "${REPLICATION_SLOT:=replica_1}"
: "${BASEBACKUP_WAIT_SECS:=300}"

log() { printf 'replica-entrypoint: %s\n' "$*" >&2; }

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    # Runs as root (the image default): prepare directories for the postgres user.
    parent=$(dirname "$PGDATA")
    mkdir -p "$parent"
    chown postgres:postgres "$parent"
    export PGPASSWORD=$REPLICATION_PASSWORD   # gosu keeps the environment

    log "waiting for the primary at $PRIMARY_HOST:$PRIMARY_PORT"
    deadline=$((SECONDS + BASEBACKUP_WAIT_SECS))
    until gosu postgres pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" -d postgres; do
        ((SECONDS < deadline)) || { log "primary not ready after ${BASEBACKUP_WAIT_SECS}s"; exit 1; }
        sleep 2
    done

    # The slot normally exists (created by primary-init.sh); create it if the primary was
    # re-initialised without one, instead of failing on "replication slot does not exist".
    slot_args=(-S "$REPLICATION_SLOT")
    slot_exists=$(gosu postgres psql -X -At -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" -d postgres \
        -v slot="$REPLICATION_SLOT" <<<"SELECT count(*) FROM pg_replication_slots WHERE slot_name = :'slot';")
    [[ $slot_exists == 1 ]] || slot_args+=(-C)

    # Clone into a scratch directory and rename it at the end, so that an interrupted
    # backup never leaves a half-copied data directory that looks initialised.
    scratch=$PGDATA.basebackup
    rm -rf "$scratch"
    log "pg_basebackup from $PRIMARY_HOST (slot $REPLICATION_SLOT)"
    gosu postgres pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" \
        -D "$scratch" -R -X stream "${slot_args[@]}" --checkpoint=fast --no-password
    rm -rf "$PGDATA"
    mv "$scratch" "$PGDATA"
    chmod 700 "$PGDATA"
    unset PGPASSWORD
    log "base backup complete"
fi

exec docker-entrypoint.sh "$@"
