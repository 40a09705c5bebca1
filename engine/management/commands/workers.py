"""manage.py workers: the django-q2 cluster under a supervisor that restarts it when it wedges."""
from __future__ import annotations

import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Run the django-q2 worker cluster (like qcluster) under a supervisor that restarts it when "
        "a task waits for an idle worker that never takes it (WORKER_STALL_SECONDS)."
    )
    requires_system_checks = []  # the supervisor runs them once; a restarted node must not fail on them

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--report", type=Path, help="file the node reports its workers to (default: a temp file)")
        parser.add_argument("--node", action="store_true", help=argparse.SUPPRESS)  # the supervised child
        parser.add_argument("--lifeline", type=int, help=argparse.SUPPRESS)

    def handle(self, *args: object, report: Path | None, node: bool, lifeline: int | None, **options: object) -> None:
        from engine import supervisor

        if node:
            supervisor.run_node(report, lifeline)
        else:
            self.check()
            supervisor.supervise(report)
