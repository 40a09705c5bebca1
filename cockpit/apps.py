"""App config of the Cockpit user interface."""
import os

from django.apps import AppConfig


class CockpitConfig(AppConfig):
    name = "cockpit"
    verbose_name = "Cockpit"

    def ready(self) -> None:
        from cockpit import throttle  # noqa: F401  (counts failed logins: the user_login_failed receiver)

        if os.environ.get("COCKPIT_SQL_COUNT_DIR"):  # bench/ only: statements per item
            from cockpit import sqlcount

            sqlcount.install(os.environ["COCKPIT_SQL_COUNT_DIR"])
