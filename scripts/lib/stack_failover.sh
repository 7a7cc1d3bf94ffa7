# shellcheck shell=bash
# Sourced by scripts/stack: `scripts/stack failover`, the runbook for a lost primary, as a
# script (docs/deployment.md, "Losing the primary", gives the compose equivalent).
#
#   1. fence the old primary: stop it if it still runs, so nothing writes to it any more;
#   2. promote the replica with pg_promote() (a new timeline; it archives from then on, since
#      both servers carry the same archive settings);
#   3. move the primary's address to it: stop it, keep the old primary's data directory aside,
#      put the promoted one in its place and start it on the primary's port. PgBouncer's rw
#      side, DATABASE_DIRECT_URL and pgBackRest's stanza all name that address, so the app
#      needs no change (compose and Kubernetes move a service name the same way);
#   4. rebuild a replica from the new primary (pg_basebackup, new slot) on the replica's port.
#
# Commits the old primary had not yet sent to the replica are lost with it (asynchronous
# replication): the script prints how far the replica had replayed.

cmd_failover() {
    require_root
    local started=$SECONDS aside
    pg_running "$REPLICA_DATA" || die "no replica is running: nothing to promote (restore from backup instead)"
    [[ $(psql_admin "$PG_REPLICA_PORT" -At -c "SELECT pg_is_in_recovery()") == t ]] ||
        die "the server on port $PG_REPLICA_PORT is not a standby"
    if pg_running "$PRIMARY_DATA"; then
        log "failover: fencing the old primary (fast stop)"
        stop_pg postgres-primary "$PRIMARY_DATA"
    else
        log "failover: the old primary is not running"
    fi
    log "failover: the replica had replayed up to $(psql_admin "$PG_REPLICA_PORT" -At -c "SELECT pg_last_wal_replay_lsn()")"
    [[ $(psql_admin "$PG_REPLICA_PORT" -At -c "SELECT pg_promote(true, 60)") == t ]] ||
        die_with_log "$PG_DIR/postgres-replica.log" "pg_promote() failed"
    log "failover: replica promoted"

    stop_pg postgres-replica "$REPLICA_DATA"
    aside=$PG_DIR/primary.before-failover-$(date -u +%Y%m%dT%H%M%SZ)
    if [[ -d $PRIMARY_DATA ]]; then
        mv "$PRIMARY_DATA" "$aside"
        log "failover: the old primary's data is kept in $aside (delete it when it is no longer needed)"
    fi
    mv "$REPLICA_DATA" "$PRIMARY_DATA"
    # pg_basebackup -R wrote the standby's connection settings here; a primary needs none.
    sed -i '/^primary_conninfo\|^primary_slot_name/d' "$PRIMARY_DATA/postgresql.auto.conf"
    rm -f "$PRIMARY_DATA/standby.signal"
    write_pg_conf "$PRIMARY_DATA" "$PG_PRIMARY_PORT" primary
    pg_start postgres-primary "$PRIMARY_DATA"
    log "failover: the new primary serves on port $PG_PRIMARY_PORT after $((SECONDS - started)) s"

    start_replica
    if [[ $STACK_REPLICAS == 2 ]]; then
        # Its slot was on the old primary: clone it again from the new one.
        stop_pg postgres-replica2 "$REPLICA2_DATA"
        rm -rf "$REPLICA2_DATA"
        start_replica2
    fi
    log "failover: done in $((SECONDS - started)) s (replica rebuilt from the new primary)"
}
