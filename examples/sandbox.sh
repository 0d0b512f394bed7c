#!/usr/bin/env bash
# The sandbox: from a fresh Debian 12 / Ubuntu 22.04+ machine to a real Slurm cluster
# (1 frontend + 2 compute nodes) on the bundled Azure-classic emulator, no Azure account.
#
#   sudo bash examples/sandbox.sh        (from the repository root)
#
# It installs what is missing (naming each package first), builds the tool and the emulator,
# creates an SSH key for the sandbox, and runs `elasticluster -c examples/sandbox.conf start sandbox`.
# Afterwards: `target/release/elasticluster -c examples/sandbox.conf ssh sandbox -- srun -N2 hostname`
# and `... stop sandbox --yes` (which also stops the emulator).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "sandbox.sh: $*" >&2; exit 1; }
say() { echo "sandbox.sh: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "run me as root (sudo bash examples/sandbox.sh): the emulator's VMs are containers in network namespaces"
command -v apt-get >/dev/null || die "apt-get not found: the sandbox needs Debian 12 or Ubuntu 22.04/24.04"
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (https://rustup.rs), then re-run"

# command -> Debian package that provides it
packages=()
want() { command -v "$1" >/dev/null 2>&1 || packages+=("$2"); }
want ssh openssh-client
want ssh-keygen openssh-client
want debootstrap debootstrap
want systemd-nspawn systemd-container
want ip iproute2
want lxcfs lxcfs
want apt-cacher-ng apt-cacher-ng
want pkg-config pkg-config
want cc gcc
want python3 python3
dpkg -s libssl-dev >/dev/null 2>&1 || packages+=(libssl-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || packages+=(zlib1g-dev)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
if [ ${#packages[@]} -gt 0 ]; then
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
  say "installing missing system packages: ${packages[*]}"
  apt-get update -q >/dev/null || die "apt-get update failed: check the machine's package sources"
  for p in "${packages[@]}"; do
    say "installing $p"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null || die "could not install package $p"
  done
fi

ansible_dir="$HOME/.elasticluster/ansible"
if ! "$ansible_dir/bin/ansible-playbook" --version >/dev/null 2>&1; then
  say "installing ansible-core into $ansible_dir (Python package index)"
  python3 -m venv "$ansible_dir" || die "could not create a Python venv in $ansible_dir"
  "$ansible_dir/bin/pip" install -q 'ansible-core>=2.15,<2.20' || die "could not install ansible-core from the Python package index"
fi

key="$HOME/.elasticluster/sandbox-key"
if [ ! -f "$key" ]; then
  say "creating the sandbox SSH key $key"
  mkdir -p "$HOME/.elasticluster" && chmod 700 "$HOME/.elasticluster"
  ssh-keygen -q -t rsa -b 3072 -N '' -C elasticluster-sandbox -f "$key"
fi

say "building elasticluster and azure-emulator (release)"
cargo build --release -q -p elasticluster -p azure-emulator

exec target/release/elasticluster -c examples/sandbox.conf start sandbox
