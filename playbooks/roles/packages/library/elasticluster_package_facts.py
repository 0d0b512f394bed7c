#!/usr/bin/python3
# The packages installed on a Debian or Ubuntu node, as ansible.builtin.package_facts
# reports them (ansible_facts.packages: name → list of {name, version, arch, source}), read
# with one dpkg-query. package_facts opens APT's whole cache (python3-apt) to learn the same:
# 1-2 s of CPU per node, on the same cores as the nodes themselves in the emulator, and
# the largest single task of a pre-baked cluster's setup; dpkg's status file is enough.
from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: elasticluster_package_facts
short_description: Installed Debian packages as facts, from dpkg-query
description:
  - Sets C(ansible_facts.packages) as M(ansible.builtin.package_facts) does with the apt
    manager, from one C(dpkg-query). A package counts as installed only when dpkg says it
    is fully installed (not unpacked or half-configured), so the packages role installs it
    again.
options: {}
"""

RETURN = r"""
ansible_facts:
  description: C(packages), package name → list of dicts with C(name), C(version), C(arch), C(source).
  type: dict
  returned: always
"""

FORMAT = "${Package}\t${Version}\t${Architecture}\t${db:Status-Status}\n"


def parse(out):
    packages = {}
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) != 4 or fields[3] != "installed":
            continue
        name, version, arch, _ = fields
        packages.setdefault(name, []).append(
            {"name": name, "version": version, "arch": arch, "source": "apt"}
        )
    return packages


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    dpkg_query = module.get_bin_path("dpkg-query")
    if dpkg_query is None:
        module.fail_json(msg="dpkg-query not found: the playbooks support Debian and Ubuntu nodes only")
    rc, out, err = module.run_command([dpkg_query, "--show", "--showformat=" + FORMAT])
    if rc != 0:
        module.fail_json(msg=f"dpkg-query failed ({rc}): {err.strip()}")
    module.exit_json(changed=False, ansible_facts={"packages": parse(out)})


if __name__ == "__main__":
    main()
