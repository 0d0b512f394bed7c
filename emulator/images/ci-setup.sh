#!/bin/sh
# Prepare a fresh Debian 12 machine (as root) for the container VM backend and its tests:
# host packages, then the VM image (built once, reused while its recipe is unchanged).
# Idempotent; meant to be called from .ci/run before `cargo test`.
set -eu
cd "$(dirname "$0")/../.."
need=""
for tool in debootstrap:debootstrap systemd-nspawn:systemd-container ip:iproute2 ssh:openssh-client ssh-keygen:openssh-client setpriv:util-linux; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need="$need ${tool#*:}"
done
if [ -n "$need" ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need
fi
cargo run -q -p azure-emulator --bin azure-emulator -- build-image debian-12-elasticluster
