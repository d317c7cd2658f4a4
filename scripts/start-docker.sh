#!/usr/bin/env bash
# Starts dockerd in the background when no Docker engine answers on /var/run/docker.sock
# (as root; through sudo when run by another user).
set -euo pipefail
if docker version >/dev/null 2>&1; then
    exit 0
fi
if ! command -v dockerd >/dev/null; then
    echo "dockerd is not installed (apt-get install docker.io)" >&2
    exit 1
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
echo "starting dockerd"
"${sudo_cmd[@]}" sh -c 'nohup dockerd >/tmp/stevedore-dockerd.log 2>&1 &'
for _ in $(seq 1 60); do
    "${sudo_cmd[@]}" docker version >/dev/null 2>&1 && exit 0
    sleep 0.5
done
echo "dockerd did not start; see /tmp/stevedore-dockerd.log" >&2
tail -20 /tmp/stevedore-dockerd.log >&2
exit 1
