#!/bin/sh
# A command launcher for a Stevedore auto scaling group: ecsd runs it with STEVEDORE_ACTION=launch or
# terminate and the instance in STEVEDORE_INSTANCE_ID, STEVEDORE_GROUP, STEVEDORE_CLUSTER and
# STEVEDORE_ENDPOINT. A real one would create or destroy a VM whose agent gets the same three
# settings; this one starts an ecs-agent on this host, to show the contract. Exit 0 when done.
set -eu
dir="${TMPDIR:-/tmp}/stevedore-command-launcher/$STEVEDORE_INSTANCE_ID"
case "$STEVEDORE_ACTION" in
launch)
    mkdir -p "$dir"
    ECS_CLUSTER="$STEVEDORE_CLUSTER" ECS_BACKEND_HOST="$STEVEDORE_ENDPOINT" ECS_INSTANCE_ID="$STEVEDORE_INSTANCE_ID" \
    ECS_DATADIR="$dir/data" ECS_RESERVED_MEMORY="${RESERVED_MEMORY:-0}" ECS_HOST_PORT_BIND_IP=127.0.0.1 \
        nohup "${ECS_AGENT:-ecs-agent}" --config /dev/null >"$dir/agent.log" 2>&1 &
    echo $! >"$dir/pid"
    ;;
terminate)
    if [ -f "$dir/pid" ]; then kill "$(cat "$dir/pid")" 2>/dev/null || true; fi
    rm -rf "$dir"
    ;;
*)
    echo "unknown STEVEDORE_ACTION '$STEVEDORE_ACTION'" >&2
    exit 2
    ;;
esac
