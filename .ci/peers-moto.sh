#!/usr/bin/env bash
# Installs moto's server (an AWS-API server: Secrets Manager, KMS, IAM, STS) into
# $KES_PEERS_DIR/venv for the kes-keystore-aws tests, unless it is already there.
# The tests start `$KES_PEERS_DIR/venv/bin/moto_server` on a free loopback port themselves.
set -euo pipefail

peers="${KES_PEERS_DIR:-$HOME/.cache/kes-rs-peers}"
venv="$peers/venv"
mkdir -p "$peers"

if [ -x "$venv/bin/moto_server" ]; then
    exit 0
fi

python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6'
if [ ! -x "$venv/bin/moto_server" ]; then
    echo "peers-moto: $venv/bin/moto_server is missing after installing moto[server]" >&2
    exit 1
fi
