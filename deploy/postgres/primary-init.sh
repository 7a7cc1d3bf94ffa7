#!/usr/bin/env bash
# Runs once, when the primary's data directory is initialised (official postgres image:
# /docker-entrypoint-initdb.d/, as the postgres user, against a temporary local server).
# Creates the roles, the application database and the replica's replication slot, and
# lets the replication role in. Passwords come from the environment (docker-compose.prod.yml).
set -Eeuo pipefail

: "${DEARME_DB_PASSWORD:?}" "${REPLICATION_PASSWORD:?}" "${MONITOR_DB_PASSWORD:?}"
: "${REPLICATION_SLOT:=replica_1}"

# psql variables (:'name') quote the values as SQL literals: no injection through passwords.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
    -v app_password="$DEARME_DB_PASSWORD" \
    -v replication_password="$REPLICATION_PASSWORD" \
    -v monitor_password="$MONITOR_DB_PASSWORD" \
    -v slot="$REPLICATION_SLOT" <<'SQL'
-- Application role: owns its database (so it may CREATE EXTENSION trusted ones, e.g.
-- hstore for the job storage), nothing more.
CREATE ROLE dearme LOGIN PASSWORD :'app_password';
CREATE DATABASE dearme OWNER dearme;
REVOKE ALL ON DATABASE dearme FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE dearme TO dearme;

-- Streaming replication (pg_basebackup + walreceiver of postgres-replica).
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'replication_password';

-- postgres-exporter: read-only statistics.
CREATE ROLE monitor LOGIN PASSWORD :'monitor_password' IN ROLE pg_monitor;
GRANT CONNECT ON DATABASE dearme TO monitor;

-- The replica streams through this slot, so the primary keeps the WAL it has not received
-- yet (bounded by max_slot_wal_keep_size, see docker-compose.prod.yml).
SELECT pg_create_physical_replication_slot(:'slot');
SQL

# The image appends `host all all all scram-sha-256`, which does not cover replication
# connections: allow the replication role over the network, with a password.
cat >>"$PGDATA/pg_hba.conf" <<'EOF_HBA'
# Added by deploy/postgres/primary-init.sh
host replication replicator all scram-sha-256
EOF_HBA
