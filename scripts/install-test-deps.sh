#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: system packages, the Python clients,
# a running Docker engine and the Python Lambda runtime image. Safe to run again: it only installs what is missing.
set -euo pipefail

packages=(libcurl4-openssl-dev libsqlite3-dev zlib1g-dev docker.io busybox-static wrk docker-registry curl debootstrap)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check awscli boto3 pytest 'moto[server]' bcrypt

scripts/start-docker.sh

# The Python Lambda runtime image (debootstrap + awslambdaric from PyPI), built once offline.
scripts/build-python-runtime.sh
