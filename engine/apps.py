"""App config of the process engine; installs the job sweep schedule after migrations."""
from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EngineConfig(AppConfig):
    name = "engine"
    verbose_name = "Process engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from importlib import import_module

        from django.conf import settings

        from engine import sql  # noqa: F401  (registers the in_ids lookup)
        from engine.services import runtime  # noqa: F401  (registers the built-in job handlers)

        for module in settings.ENGINE["JOB_HANDLER_MODULES"]:
            import_module(module)
        from engine.services.jobs import ensure_sweep_schedule

        post_migrate.connect(ensure_sweep_schedule, sender=self)
