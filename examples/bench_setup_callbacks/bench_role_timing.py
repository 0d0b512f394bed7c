# Benchmark helper (not part of the playbooks): where `elasticluster setup` spends its
# wall time. Enabled by examples/bench_setup.rs with ANSIBLE_CALLBACKS_ENABLED=bench_role_timing;
# writes {"role": seconds, ...} to the file named by $BENCH_ROLE_TIMING_FILE and, when
# $BENCH_TASK_TIMING_FILE is set, one line per task in run order (seconds, role, task
# name, action) — what finds the tasks that grow with the cluster. By hand:
#
#   ANSIBLE_CALLBACK_PLUGINS=examples/bench_setup_callbacks \
#   ANSIBLE_CALLBACKS_ENABLED=bench_role_timing BENCH_TASK_TIMING_FILE=/tmp/tasks.txt \
#   elasticluster -s DIR -c examples/sandbox.conf setup sandbox
#
# With the linear strategy every host runs a task before the next one starts, so the time
# from one task's start to the next task's start is that task's (on every host together),
# and belongs to its role ("(facts)" for fact gathering, "(play)" outside any role).
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_role_timing
type: aggregate
short_description: wall time per role (JSON) and per task (text)
description:
  - Writes the wall time spent in each role to $BENCH_ROLE_TIMING_FILE, and of each task
    to $BENCH_TASK_TIMING_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_role_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._current = None  # (role, task label)
        self._since = None
        self._totals = {}
        self._tasks = []

    def _switch(self, current):
        now = time.monotonic()
        if self._current is not None:
            role, label = self._current
            self._totals[role] = self._totals.get(role, 0.0) + now - self._since
            self._tasks.append((now - self._since, label))
        self._current = current
        self._since = now

    def _task(self, task):
        if task.action in ("gather_facts", "ansible.builtin.gather_facts", "setup", "ansible.builtin.setup"):
            role = "(facts)"
        else:
            found = getattr(task, "_role", None)
            role = found.get_name() if found is not None else "(play)"
        self._switch((role, f"{role}\t{task.get_name()}\t{task.action}"))

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
        path = os.environ.get("BENCH_TASK_TIMING_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as out:
                for seconds, label in self._tasks:
                    out.write(f"{seconds:.2f}\t{label}\n")
