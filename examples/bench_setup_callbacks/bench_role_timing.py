# Benchmark helper (not part of the playbooks): where `elasticluster setup` spends its
# wall time, per role. Enabled by examples/bench_setup.rs with
# ANSIBLE_CALLBACKS_ENABLED=bench_role_timing; writes {"role": seconds, ...} to the file
# named by $BENCH_ROLE_TIMING_FILE. With the linear strategy every host runs a task before
# the next one starts, so the time from one task's start to the next task's start belongs
# to the first task's role ("(facts)" for fact gathering, "(play)" outside any role).
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_role_timing
type: aggregate
short_description: wall time per role, as JSON
description:
  - Writes the wall time spent in each role to $BENCH_ROLE_TIMING_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_role_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._current = None
        self._since = None
        self._totals = {}

    def _switch(self, label):
        now = time.monotonic()
        if self._current is not None:
            self._totals[self._current] = self._totals.get(self._current, 0.0) + now - self._since
        self._current = label
        self._since = now

    def _task(self, task):
        if task.action in ("gather_facts", "ansible.builtin.gather_facts", "setup", "ansible.builtin.setup"):
            return self._switch("(facts)")
        role = getattr(task, "_role", None)
        self._switch(role.get_name() if role is not None else "(play)")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task(task)

    def v2_playbook_on_stats(self, stats):
        self._switch(None)
        path = os.environ.get("BENCH_ROLE_TIMING_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as out:
                json.dump(self._totals, out)
