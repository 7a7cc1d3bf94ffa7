#!/bin/sh
# Starts one Redis of the replicated set (StatefulSet dearme-redis-node, redis.yaml) with
# deploy/redis/redis.conf (the compose stack's file; this directory holds a copy that
# scripts/check-kubernetes keeps identical) plus, as compose does, the password and the memory
# cap on the command line. Which master to follow: the one the sentinels name (after a failover
# it is no longer pod 0); with no sentinel answering (first start of the set), pod 0 is the master
# and the others replicate it.
set -eu
: "${REDIS_PASSWORD:?}" "${POD_NAME:?}" "${REDIS_MAXMEMORY:?}"
NODES=dearme-redis-node
SENTINEL=dearme-redis-sentinel
self="$POD_NAME.$NODES"
export REDISCLI_AUTH="$REDIS_PASSWORD"

master=
if answer=$(timeout 5 redis-cli -h "$SENTINEL" -p 26379 --raw sentinel get-master-addr-by-name dearme 2>/dev/null); then
    master=$(printf '%s\n' "$answer" | head -n 1)
fi
case $master in
    "" | *[!A-Za-z0-9.-]*) master="$NODES-0.$NODES" ;;
esac

set -- /etc/redis/redis.conf \
    --requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD" \
    --maxmemory "$REDIS_MAXMEMORY" \
    --replica-announce-ip "$self"
if [ "$master" != "$self" ]; then
    echo "redis-start: $self replicates $master"
    set -- "$@" --replicaof "$master" 6379
else
    echo "redis-start: $self starts as the master"
fi
exec redis-server "$@"
