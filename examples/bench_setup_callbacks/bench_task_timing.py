# Benchmark helper (not part of the playbooks): where `elasticluster setup` spends its
# wall time, per task, to find what grows with the cluster. Not enabled by bench_setup;
# enable it by hand next to a setup:
#
#   ANSIBLE_CALLBACK_PLUGINS=examples/bench_setup_callbacks \
#   ANSIBLE_CALLBACKS_ENABLED=bench_task_timing BENCH_TASK_TIMING_FILE=/tmp/tasks.txt \
#   elasticluster -s DIR -c examples/sandbox.conf setup sandbox
#
# Writes one line per task, in run order: seconds, role, task name and action. With the
# linear strategy every host runs a task before the next one starts, so the time from
# one task's start to the next task's start is that task's (on every host together).
from __future__ import annotations

import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_task_timing
type: aggregate
short_description: wall time per task, as text
description:
  - Writes the wall time of each task to $BENCH_TASK_TIMING_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_task_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._current = None
        self._since = None
        self._rows = []

    def _switch(self, label):
        now = time.monotonic()
        if self._current is not None:
            self._rows.append((now - self._since, self._current))
        self._current = label
        self._since = now

    def _task(self, task):
        role = getattr(task, "_role", None)
        self._switch(f"{role.get_name() if role is not None else '-'}\t{task.get_name()}\t{task.action}")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task(task)

    def v2_playbook_on_stats(self, stats):
        self._switch(None)
        path = os.environ.get("BENCH_TASK_TIMING_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as out:
                for seconds, label in self._rows:
                    out.write(f"{seconds:.2f}\t{label}\n")
