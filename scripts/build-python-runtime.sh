#!/usr/bin/env bash
# Builds the Docker image that runs Lambda Python functions (default stevedore/lambda-python:3.11)
# without any container registry: debootstrap a minimal Debian bookworm rootfs from the Debian mirror
# apt is configured with (no mirror address is written here), pip-install awslambdaric and boto3 into it from
# the index this machine's pip uses, trim it, and `docker import` it.
#
# Usage: scripts/build-python-runtime.sh [--force] [IMAGE_NAME]
#   IMAGE_NAME  defaults to stevedore/lambda-python:3.11
#   --force     rebuild even when the image already exists
#
# Functions run in it as: python3 -m awslambdaric app.handler (working dir /var/task).
# Needs root (debootstrap, chroot, mounts) and a running Docker engine.
set -euo pipefail

image="stevedore/lambda-python:3.11"
force=0
for arg in "$@"; do
    case "$arg" in
        --force|-f) force=1 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $arg" >&2; exit 2 ;;
        *) image="$arg" ;;
    esac
done

start=$SECONDS
log() { echo "==> $*"; }

# An image from before boto3 was part of it is rebuilt.
if [ "$force" -eq 0 ] && docker image inspect "$image" >/dev/null 2>&1 \
    && docker run --rm --network none --entrypoint python3 "$image" -c 'import boto3' >/dev/null 2>&1; then
    echo "image $image already exists (use --force to rebuild)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "this script needs root (debootstrap, chroot, mount): run it with sudo" >&2
    exit 1
fi
docker info >/dev/null 2>&1 || { echo "no Docker engine answers (scripts/start-docker.sh starts one)" >&2; exit 1; }

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# --- The Debian mirror this machine's apt uses (first bookworm "main" source that is not security).
find_mirror() {
    local file uri
    shopt -s nullglob
    for file in /etc/apt/sources.list.d/*.sources; do
        # deb822: take the URIs of a stanza whose Suites include plain "bookworm".
        uri=$(awk '
            /^[[:space:]]*$/ { if (u != "" && s ~ /(^|[[:space:]])bookworm([[:space:]]|$)/ && e !~ /no/) { print u; exit } u=""; s=""; e=""; next }
            /^URIs:/    { u=$2 }
            /^Suites:/  { sub(/^Suites:[[:space:]]*/, ""); s=$0 }
            /^Enabled:/ { e=$2 }
            END { if (u != "" && s ~ /(^|[[:space:]])bookworm([[:space:]]|$)/ && e !~ /no/) print u }
        ' "$file" | head -n1)
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        # one-line form: deb [options] URI bookworm components...
        uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                                 if ($(i+1) == "bookworm") { print $i; exit } }' "$file")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    return 0
}
mirror=$(find_mirror)
mirror=${mirror%/}
if [ -z "$mirror" ]; then
    cat >&2 <<'MESSAGE'
No Debian bookworm mirror is configured for apt, and this script takes its mirror only from apt's own
configuration. Add one, for example in /etc/apt/sources.list.d/debian.sources:

    Types: deb
    URIs: <your Debian mirror>
    Suites: bookworm
    Components: main

(or a line "deb <your Debian mirror> bookworm main" in /etc/apt/sources.list), then run this again.
MESSAGE
    exit 1
fi

# Apt may reach the mirror through a proxy; debootstrap honours http_proxy.
if [ -z "${http_proxy:-}" ]; then
    apt_proxy=$(apt-config dump 2>/dev/null | sed -n 's/^Acquire::http::Proxy "\(.*\)";$/\1/p' | head -n1)
    if [ -n "$apt_proxy" ] && [ "$apt_proxy" != "DIRECT" ]; then export http_proxy="$apt_proxy"; fi
fi

# --- The host's pip settings that matter for reaching the index from inside the chroot.
pip_config_list=$(python3 -m pip config list 2>/dev/null || pip3 config list 2>/dev/null || true)
pip_setting() { # KEY -> value in effect on the host (environment first, then install/global config)
    local key=$1 env_name value
    env_name="PIP_$(echo "$key" | tr 'a-z-' 'A-Z_')"
    if [ -n "${!env_name:-}" ]; then echo "${!env_name}"; return; fi
    for section in ":env:" install global; do
        value=$(printf '%s\n' "$pip_config_list" | sed -n "s/^${section}\.${key}=//p" | head -n1)
        if [ -n "$value" ]; then value=${value#\'}; value=${value%\'}; echo "$value"; return; fi
    done
    if [ -z "$pip_config_list" ]; then # no host pip: read the config files directly
        for f in /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.pip/pip.conf" "$HOME/.config/pip/pip.conf" "${PIP_CONFIG_FILE:-}"; do
            [ -n "$f" ] && [ -f "$f" ] || continue
            v=$(awk -F '=' -v k="$key" '/^\[/ { s=$0 } s ~ /^\[(global|install)\]/ && $1 ~ "^[[:space:]]*"k"[[:space:]]*$" { sub(/^[^=]*=[[:space:]]*/, ""); print }' "$f" | tail -n1)
            [ -n "$v" ] && value=$v
        done
        if [ -n "${value:-}" ]; then echo "$value"; fi
    fi
    return 0
}
chroot_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
            PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
for key in index-url extra-index-url trusted-host proxy default-timeout retries; do
    value=$(pip_setting "$key")
    if [ -n "$value" ]; then chroot_env+=("PIP_$(echo "$key" | tr 'a-z-' 'A-Z_')=$value"); fi
done
# find-links only makes sense inside the chroot when it is a URL, not a host directory.
find_links=$(pip_setting find-links)
case "$find_links" in http://*|https://*) chroot_env+=("PIP_FIND_LINKS=$find_links") ;; esac
for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    if [ -n "${!name:-}" ]; then chroot_env+=("$name=${!name}"); fi
done

# --- Work area and cleanup.
root=$(mktemp -d "${TMPDIR:-/tmp}/stevedore-python-rootfs.XXXXXX")
cleanup() {
    local failed=0 mnt
    for mnt in "$root/dev/pts" "$root/dev" "$root/proc" "$root/sys"; do
        if mountpoint -q "$mnt" 2>/dev/null; then
            umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || failed=1
        fi
    done
    if [ "$failed" -eq 0 ] && ! grep -q " $root/" /proc/mounts; then
        rm -rf --one-file-system "$root"
    else
        echo "warning: could not unmount everything under $root; left it in place" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "debootstrap bookworm from $mirror into $root"
debootstrap --variant=minbase --include=python3,python3-pip bookworm "$root" "$mirror" \
    >"$root.debootstrap.log" 2>&1 || { tail -30 "$root.debootstrap.log" >&2; rm -f "$root.debootstrap.log"; exit 1; }
rm -f "$root.debootstrap.log"

index=$(printf '%s\n' "${chroot_env[@]}" | sed -n 's/^PIP_INDEX_URL=//p')
log "installing awslambdaric and boto3 (Lambda's Python runtimes include it) from ${index:-PyPI}"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
ca="$root/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$root/etc/ssl/certs"
if [ -f "$ca" ]; then cp -a "$ca" "$ca.stevedore-orig"; fi
cp /etc/ssl/certs/ca-certificates.crt "$ca"   # the host's bundle trusts whatever proxy sits in front of PyPI
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" /usr/bin/env -i "${chroot_env[@]}" \
    python3 -m pip install --quiet --break-system-packages --no-cache-dir \
    --cert /etc/ssl/certs/ca-certificates.crt awslambdaric boto3
version=$(chroot "$root" /usr/bin/env -i "${chroot_env[@]}" python3 -c \
    'import importlib.metadata as m; print(m.version("awslambdaric"))')
log "awslambdaric $version installed"
# The image keeps Debian's own CA bundle, not the host's.
if [ -f "$ca.stevedore-orig" ]; then mv "$ca.stevedore-orig" "$ca"; else rm -f "$ca"; fi
: >"$root/etc/resolv.conf"

log "trimming the rootfs"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
       "$root"/usr/share/lintian "$root"/usr/share/locale/* "$root"/var/log/* "$root"/root/.cache \
       "$root"/tmp/* "$root"/var/tmp/*
find "$root" -xdev -depth -type d -name __pycache__ -exec rm -rf {} +
find "$root" -xdev -type f -name '*.py[co]' -delete
# Functions run as a non-root user that cannot write bytecode, so compile just what the runtime
# imports at startup (about 2 MB; ~70 ms off every cold start) instead of all of Python (+25 MB).
chroot "$root" /usr/bin/env -i "${chroot_env[@]}" python3 -c \
    'import awslambdaric.__main__, awslambdaric.bootstrap, awslambdaric.lambda_runtime_hooks_runner, awslambdaric.lambda_literals, http.client, concurrent.futures, boto3'
umount "$root/dev"
umount "$root/proc"

log "adding sbx_user1051 (993:993) and the Lambda directories"
mkdir -p "$root/var/task" "$root/opt" "$root/var/runtime"
grep -q '^sbx_user1051:' "$root/etc/group" || echo 'sbx_user1051:x:993:' >>"$root/etc/group"
grep -q '^sbx_user1051:' "$root/etc/passwd" ||
    echo 'sbx_user1051:x:993:993::/tmp:/usr/sbin/nologin' >>"$root/etc/passwd"
if [ -f "$root/etc/shadow" ] && ! grep -q '^sbx_user1051:' "$root/etc/shadow"; then
    echo 'sbx_user1051:!:19000::::::' >>"$root/etc/shadow"
fi
chmod 1777 "$root/tmp"

log "importing $image"
tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin' \
    --change 'WORKDIR /var/task' \
    --change 'ENV LANG=C.UTF-8' \
    - "$image" >/dev/null
size=$(docker image inspect --format '{{.Size}}' "$image")
log "built $image (awslambdaric $version, $((size / 1024 / 1024)) MiB) in $((SECONDS - start))s"
