#!/usr/bin/python3
# A file's whole content, owner, group and mode, in one module run. ansible.builtin.copy
# and ansible.builtin.template take two module runs per node and file (a remote stat, then
# copy or file) plus a file transfer; every node writes slurm.conf and the MUNGE key, so
# on a cluster set up from one control machine those runs grow the setup with the
# cluster. The content travels in the module's arguments, so a task that writes a secret
# must say no_log (the argument itself is never logged).
from __future__ import annotations

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: elasticluster_content
short_description: Write a file's whole content in one module run
description:
  - Replaces I(dest) with I(content) when they differ (a new file in the same directory,
    given its owner and mode before it is renamed over I(dest)), and sets I(owner),
    I(group) and I(mode) either way.
options:
  dest:
    description: The file.
    required: true
    type: path
  content:
    description: Its whole content (text).
    required: true
    type: str
  owner:
    description: Owner of the file.
    type: str
  group:
    description: Group of the file.
    type: str
  mode:
    description: Mode of the file, e.g. C("0644").
    required: true
    type: raw
"""

RETURN = r"""
dest:
  description: The file.
  type: str
  returned: always
"""


def main():
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "content": {"type": "str", "required": True, "no_log": True},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "mode": {"type": "raw", "required": True},
        },
        supports_check_mode=True,
    )
    dest = module.params["dest"]
    wanted = module.params["content"].encode()
    try:
        with open(dest, "rb") as current:
            same = current.read() == wanted
    except FileNotFoundError:
        same = False
    except OSError as e:
        module.fail_json(msg=f"cannot read {dest}: {e}")

    changed = not same
    if changed and not module.check_mode:
        directory = os.path.dirname(dest) or "."
        if not os.path.isdir(directory):
            module.fail_json(msg=f"{directory} does not exist (the file's directory)")
        # The new file is made private (mkstemp: 0600), gets its owner and mode, and only
        # then takes dest's name: a secret is never readable by others, not even briefly.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".elasticluster-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(wanted)
                out.flush()
                os.fsync(out.fileno())
            file_args = module.load_file_common_arguments(module.params, path=tmp)
            module.set_fs_attributes_if_different(file_args, False)
            os.replace(tmp, dest)
        except Exception:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(module.params, path=dest)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, dest=dest)


if __name__ == "__main__":
    main()
