#!/usr/bin/env bash
# Installs what building Stevedore and running a local cluster need on a fresh Debian machine: the
# C libraries it links (libcurl, SQLite, zlib), a Docker engine for the agent, iproute2 (the agent gives
# the host the task credentials address 169.254.170.2) and busybox for the
# functions' runtime image; AWS's SAM translator (PyPI) for CloudFormation's SAM transform; then
# makes sure a Docker engine runs. Safe to run again: it installs only
# what is missing, and asks for root (sudo) only when not already root and something is missing.
#
# Usage: scripts/install-build-deps.sh [EXTRA_PACKAGE ...]   (install-test-deps.sh passes its own)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libcurl4-openssl-dev libsqlite3-dev zlib1g-dev docker.io busybox-static iproute2 "$@")
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "installing ${missing[*]} needs root: run this as root or install sudo" >&2; exit 1; }
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The SAM transform runs AWS's own translator (Python's aws-sam-translator) in ecsd's CloudFormation.
# Without Python and pip, everything else works and SAM templates are refused naming the package.
if ! python3 -c "import samtranslator" 2>/dev/null; then
    python3 -m pip install -q --disable-pip-version-check aws-sam-translator 2>/dev/null \
        || echo "note: could not install aws-sam-translator (PyPI); CloudFormation's SAM transform needs it: python3 -m pip install aws-sam-translator" >&2
fi

scripts/start-docker.sh
