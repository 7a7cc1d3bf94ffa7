#!/bin/sh
# Starts one Redis Sentinel (StatefulSet dearme-redis-sentinel, sentinel.yaml). Sentinel rewrites
# its own configuration, so it lives in an emptyDir (kept across restarts of the container, not of
# the pod). A new configuration monitors the master the other sentinels name, else the Redis
# that says it is a master, else pod 0. Hostnames, not pod IPs, identify every member.
set -eu
: "${REDIS_PASSWORD:?}" "${POD_NAME:?}" "${SENTINEL_QUORUM:?}"
NODES=dearme-redis-node
SENTINELS=dearme-redis-sentinel
CONF=/data/sentinel.conf
export REDISCLI_AUTH="$REDIS_PASSWORD"

valid() { case $1 in "" | *[!A-Za-z0-9.-]*) return 1 ;; esac; }

if [ ! -s "$CONF" ]; then
    master=
    for i in 0 1 2; do
        peer="$SENTINELS-$i.$SENTINELS"
        [ "$peer" = "$POD_NAME.$SENTINELS" ] && continue
        master=$(timeout 3 redis-cli -h "$peer" -p 26379 --raw sentinel get-master-addr-by-name dearme 2>/dev/null | head -n 1) || master=
        valid "$master" && break
        master=
    done
    if [ -z "$master" ]; then
        for i in 0 1 2; do
            node="$NODES-$i.$NODES"
            if timeout 3 redis-cli -h "$node" -p 6379 info replication 2>/dev/null | grep -q '^role:master'; then
                master=$node
                break
            fi
        done
    fi
    valid "$master" || master="$NODES-0.$NODES"
    echo "sentinel-start: monitoring $master"
    umask 077
    cat >"$CONF" <<CONF
port 26379
dir /data
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $POD_NAME.$SENTINELS
requirepass $REDIS_PASSWORD
sentinel sentinel-pass $REDIS_PASSWORD
sentinel monitor dearme $master 6379 $SENTINEL_QUORUM
sentinel auth-pass dearme $REDIS_PASSWORD
sentinel down-after-milliseconds dearme 5000
sentinel failover-timeout dearme 60000
sentinel parallel-syncs dearme 1
CONF
fi
exec redis-server "$CONF" --sentinel
