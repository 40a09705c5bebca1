"""manage.py load_demo_data: users, tenants, demo processes and many instances in varied states."""
import os
import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from engine.demo import INSERT_ORDER, ensure_users, load_instances
from engine.models import HistoricProcessInstance

PROGRESS_FROM = 20_000  # instances: below, the load takes about a second and draws no bar


class Command(BaseCommand):
    help = (
        "Load demo users, tenants, process definitions and instances in varied states, built by several "
        "processes at once (PostgreSQL: COPY text from each, then ANALYZE; SQLite: each stages its chunks in "
        "a file that this process copies in). On a 2-core machine 100,000 instances take about 8 s on "
        "PostgreSQL and 10 s on SQLite; a million about 70 s on PostgreSQL and 50-90 s on SQLite "
        "(bench/RESULTS.md, demo loader). A progress bar is drawn from 20,000 instances."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--instances", type=int, default=3000, help="number of process instances (default 3000)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn on stderr when loading 20000 or more)")
        parser.add_argument(
            "--processes", type=int, default=min(os.cpu_count() or 1, 4),
            help="build the instances in this many processes at once (default: the cores, at most 4)",
        )
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
        with Progress(
            TextColumn("loading instances"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(file=self.stderr._out), disable=options["instances"] < PROGRESS_FROM or options["no_progress"],
        ) as bar:
            task = bar.add_task("instances", total=options["instances"])
            tally = load_instances(
                options["instances"], progress=lambda n: bar.advance(task, n), processes=max(1, options["processes"])
            )
        analyzed = _analyze()
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n} {state}" for state, n in sorted(tally.items()))
        self.stdout.write(f"Loaded {options['instances']} instances in {elapsed:.1f}s ({summary}){analyzed}.")


def _analyze() -> str:
    """ANALYZE the loaded tables on PostgreSQL, as its manual advises after a bulk load ("Populating
    a Database"). Until autovacuum gets to them, the tables have no statistics, and the planner
    reads a batch chunk's `process_instance_id = ANY(<1,250 ids>)` as a large share of the table: at
    a million instances each chunk of a cancellation then scanned the 2M activity history rows
    (0.33 s a statement instead of 0.02 s; bench/RESULTS.md, seventh session). SQLite keeps no
    statistics unless asked, and the product's queries are written for that, so it is left alone."""
    if connection.vendor != "postgresql":
        return ""
    started = time.monotonic()
    with connection.cursor() as cursor:
        for model in INSERT_ORDER:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return f", then analyzed in {time.monotonic() - started:.1f}s"
