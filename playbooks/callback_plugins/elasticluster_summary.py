# Writes the PLAY RECAP counts as JSON to the file named by $ELASTICLUSTER_SETUP_SUMMARY,
# so that `elasticluster setup` can tell whether anything changed without parsing the
# human-readable output (which another stdout callback may replace).
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: elasticluster_summary
type: aggregate
short_description: write per-host task counts as JSON for elasticluster
description:
  - Writes ok/changed/unreachable/failures/skipped per host to $ELASTICLUSTER_SETUP_SUMMARY.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "elasticluster_summary"
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("ELASTICLUSTER_SETUP_SUMMARY")
        if not path:
            return
        hosts = {host: stats.summarize(host) for host in sorted(stats.processed.keys())}
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump({"hosts": hosts}, out)
        os.replace(tmp, path)
