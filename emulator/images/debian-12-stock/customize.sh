#!/bin/sh
# Customisation of the debian-12-stock image. Runs INSIDE the freshly debootstrapped root
# (chroot, private mount namespace, /proc /sys /dev mounted, the host's resolv.conf bound
# over /etc/resolv.conf, /usr/sbin/policy-rc.d = "exit 101" so nothing starts).
# Environment: ARCHIVE_URL, SECURITY_URL (may be empty), SUITE, RECIPE_DIR (this directory).
# It must never touch anything outside the image root, must install nothing a cluster role
# installs, and must leave no per-host identity behind (hostname, machine-id, SSH host
# keys) and no package lists: like a cloud image, a VM fetches them itself (through the
# emulator's package cache, configured at first boot).
set -eu
export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LC_ALL=C.UTF-8

step() { echo "customize: $*" >&2; }

step "apt sources"
{
    echo "deb $ARCHIVE_URL $SUITE main"
    echo "deb $ARCHIVE_URL $SUITE-updates main"
    if [ -n "$SECURITY_URL" ]; then echo "deb $SECURITY_URL $SUITE-security main"; fi
} > /etc/apt/sources.list

step "security and point-release updates (as a cloud image is published)"
apt-get -q update
apt-get -q -y -o Dpkg::Options::=--force-confold upgrade
apt-get clean
rm -rf /var/lib/apt/lists/*

step "SSH host keys are generated at first boot, so every VM gets its own"
rm -f /etc/ssh/ssh_host_*
cat > /etc/systemd/system/ssh-hostkeys.service <<'UNIT'
[Unit]
Description=Generate this machine's SSH host keys (first boot)
DefaultDependencies=no
After=local-fs.target
Before=ssh.service sshd.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target ssh.service
UNIT
systemctl enable ssh-hostkeys.service
systemctl enable ssh.service

step "sshd answers only once users may log in"
# While booting, /run/nologin makes sshd refuse every non-root login ("System is booting
# up"); the emulator reports a VM ready when sshd answers, so sshd waits for that gate.
mkdir -p /etc/systemd/system/ssh.service.d
cat > /etc/systemd/system/ssh.service.d/after-user-sessions.conf <<'UNIT'
[Unit]
After=systemd-user-sessions.service
UNIT

step "containers have no console login"
systemctl mask console-getty.service

step "identity files"
rm -f /etc/hostname /etc/mailname /var/lib/dbus/machine-id
: > /etc/machine-id
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
