#!/usr/bin/python3
# What the last complete setup left on a node, and whether the node still matches it.
#
# `state: record` (the last play of site.yml, after every role ran) writes a manifest:
# the digest of the run's inputs (playbooks, inventory, arguments), and for every file the
# roles manage its type, owner, group, mode and SHA-256, every service with whether it must
# run and how it is enabled, every package with its version, and shell checks that must
# succeed (the accounting database knows the cluster, the qmaster's host lists...).
# `state: check` (the first play) compares the node with that manifest and returns
# `converged`; it never changes anything and never fails: whatever it cannot read counts
# as a difference, so the whole setup runs.
from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: elasticluster_node_state
short_description: Record or check what the last complete setup left on a node
description:
  - With I(state=record), writes the manifest of the node's managed files, services,
    packages and checks, with the digest of the run's inputs.
  - With I(state=check), tells whether the node still matches its manifest for the same
    inputs. Never changes the node.
options:
  state:
    description: C(record) or C(check).
    required: true
    type: str
    choices: [record, check]
  inputs:
    description: Digest of what the run depends on (set by elasticluster).
    required: true
    type: str
  path:
    description: Where the manifest lives.
    type: path
    default: /var/lib/elasticluster/setup-state.json
  parts:
    description:
      - I(state=record) only. Each role's declaration, a dict with optional keys
        C(files) (paths), C(services) (dicts with C(name) and C(running)),
        C(packages) (names) and C(checks) (shell commands that must exit 0).
    type: list
    elements: dict
    default: []
"""

RETURN = r"""
converged:
  description: I(state=check) only. True when nothing differs.
  type: bool
  returned: always
differences:
  description: I(state=check) only. What differs (at most ten, first found first).
  type: list
  elements: str
  returned: always
"""

MANIFEST_VERSION = 1
MAX_DIFFERENCES = 10


def file_state(path):
    """Type, owner, group, mode and content digest of a path (None when absent)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    entry = {"uid": st.st_uid, "gid": st.st_gid, "mode": stat.S_IMODE(st.st_mode)}
    if stat.S_ISLNK(st.st_mode):
        entry["type"] = "link"
        entry["target"] = os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        entry["type"] = "directory"
    elif stat.S_ISREG(st.st_mode):
        entry["type"] = "file"
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                digest.update(block)
        entry["sha256"] = digest.hexdigest()
    else:
        entry["type"] = "other"
    return entry


def run(argv):
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout.strip()


def service_state(name):
    """(active, enabled) as systemctl prints them; unknown units read as inactive."""
    _, active = run(["systemctl", "is-active", name])
    _, enabled = run(["systemctl", "is-enabled", name])
    return active or "unknown", enabled or "unknown"


def package_versions(names):
    """name → installed version (missing when not installed), in one dpkg-query."""
    if not names:
        return {}
    _, out = run(["dpkg-query", "--show", "--showformat=${Package}\t${db:Status-Status}\t${Version}\n"] + names)
    versions = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] == "installed":
            versions[parts[0].split(":")[0]] = parts[2]
    return versions


def merge(parts):
    files, services, packages, checks = [], {}, [], []
    for part in parts:
        files.extend(part.get("files") or [])
        for svc in part.get("services") or []:
            services[svc["name"]] = bool(svc.get("running", True))
        packages.extend(part.get("packages") or [])
        checks.extend(part.get("checks") or [])
    return sorted(set(files)), services, sorted(set(packages)), checks


def record(module, path, inputs, parts):
    files, services, packages, checks = merge(parts)
    manifest = {
        "version": MANIFEST_VERSION,
        "inputs": inputs,
        "files": {p: file_state(p) for p in files},
        # Whether it must run is what the roles asked for; how it is enabled is read.
        "services": {n: {"running": r, "enabled": service_state(n)[1]} for n, r in sorted(services.items())},
        "packages": package_versions(packages),
        "checks": checks,
    }
    missing = sorted(set(packages) - set(manifest["packages"]))
    if missing:
        module.fail_json(msg="packages the roles installed are not installed: " + ", ".join(missing))
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                module.exit_json(changed=False, converged=True, differences=[])
    except (OSError, UnicodeDecodeError):
        pass
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".setup-state.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise
    module.exit_json(changed=True, converged=True, differences=[])


def differences(path, inputs):
    """Everything that differs from the manifest, first found first."""
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        yield "no complete setup recorded on this node"
        return
    except (OSError, ValueError) as e:
        yield f"cannot read {path}: {e}"
        return
    if manifest.get("version") != MANIFEST_VERSION:
        yield f"{path} was written by another version of the playbooks"
        return
    if manifest.get("inputs") != inputs:
        yield "the playbooks, the inventory or the setup arguments changed"
        return
    for p, want in sorted(manifest.get("files", {}).items()):
        have = file_state(p)
        if have != want:
            yield f"{p}: " + ("missing" if have is None else "content, owner or mode changed" if want else "exists")
    for name, want in sorted(manifest.get("services", {}).items()):
        active, enabled = service_state(name)
        if want["running"] != (active == "active"):
            yield f"service {name} is {active}"
        if enabled != want["enabled"]:
            yield f"service {name} is {enabled}, was {want['enabled']}"
    want_packages = manifest.get("packages", {})
    have_packages = package_versions(sorted(want_packages))
    for name, version in sorted(want_packages.items()):
        if have_packages.get(name) != version:
            yield f"package {name} {have_packages.get(name, 'not installed')}, was {version}"
    for cmd in manifest.get("checks", []):
        rc, _ = run(["/bin/bash", "-c", cmd])
        if rc != 0:
            yield f"check failed: {cmd}"


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "required": True, "choices": ["record", "check"]},
            "inputs": {"type": "str", "required": True},
            "path": {"type": "path", "default": "/var/lib/elasticluster/setup-state.json"},
            "parts": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] == "record":
        if module.check_mode:
            module.exit_json(changed=False, converged=False, differences=[])
        record(module, p["path"], p["inputs"], p["parts"])
    found = []
    try:
        for difference in differences(p["path"], p["inputs"]):
            found.append(difference)
            if len(found) >= MAX_DIFFERENCES:
                break
    except Exception as e:  # noqa: BLE001 - a check that cannot finish means "run the setup"
        found.append(f"cannot check: {e}")
    module.exit_json(changed=False, converged=not found, differences=found)


if __name__ == "__main__":
    main()
