"""manage.py load_demo_data: users, tenants, demo processes and many instances in varied states."""
import os
import time

from django.core.management.base import BaseCommand, CommandParser

from engine.demo import ensure_users, load_instances
from engine.models import HistoricProcessInstance


class Command(BaseCommand):
    help = "Load demo users, tenants, process definitions and instances (bulk inserts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--instances", type=int, default=3000, help="number of process instances (default 3000)")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing if process instances exist already"
        )
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_PASSWORD", "admin"),
            help="password of the demo users admin, operator-a, operator-b (default: $DEMO_PASSWORD or 'admin')",
        )

    def handle(self, *args, **options) -> None:
        if options["instances"] < 0:
            self.stderr.write("--instances must not be negative")
            raise SystemExit(2)
        ensure_users(options["password"])
        if options["if_empty"] and HistoricProcessInstance.objects.exists():
            self.stdout.write("Demo data already present; nothing loaded.")
            return
        started = time.monotonic()
        tally = load_instances(options["instances"])
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n} {state}" for state, n in sorted(tally.items()))
        self.stdout.write(f"Loaded {options['instances']} instances in {elapsed:.1f}s ({summary}).")
