#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: what building needs
# (install-build-deps.sh), the test tools and servers, the Python clients, a running Docker engine
# and the Python Lambda runtime image. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-build-deps.sh wrk docker-registry curl debootstrap systemd postgresql

python3 -m pip install -q --disable-pip-version-check awscli boto3 pytest 'moto[server]' bcrypt cryptography websockets prometheus_client

# The Python Lambda runtime image (debootstrap + awslambdaric from PyPI), built once offline.
if [ "$(id -u)" -eq 0 ]; then
    scripts/build-python-runtime.sh
else
    sudo scripts/build-python-runtime.sh
fi
