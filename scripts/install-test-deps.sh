#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: what building needs
# (install-build-deps.sh), the test tools and servers, the Python clients, a running Docker engine
# and the Python Lambda runtime image. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-build-deps.sh wrk docker-registry curl debootstrap systemd postgresql chromium

python3 -m pip install -q --disable-pip-version-check awscli boto3 pytest 'moto[server]' bcrypt cryptography websockets prometheus_client aws-sam-translator pyathena

# AWS's `sam` CLI, in a virtual environment of its own (its pins would clash with the clients above).
sam_home="${STEVEDORE_SAM_HOME:-$HOME/.local/share/stevedore/sam}"
if [ ! -x "$sam_home/bin/sam" ]; then
    python3 -m venv "$sam_home"
    "$sam_home/bin/pip" install -q --disable-pip-version-check aws-sam-cli
fi

# The Python Lambda runtime image (debootstrap + awslambdaric from PyPI), built once offline.
if [ "$(id -u)" -eq 0 ]; then
    scripts/build-python-runtime.sh
else
    sudo scripts/build-python-runtime.sh
fi
