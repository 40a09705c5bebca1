"""App config of the batches app."""
from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Batches"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from batches.execution import register_handlers

        register_handlers()
        post_migrate.connect(create_operation_permissions, sender=self)

        from batches import notifications
        from batches.signals import batch_event

        notifications.register_handlers()
        batch_event.connect(notifications.on_batch_event, dispatch_uid="batches.notifications.webhooks")


def create_operation_permissions(sender, using="default", **kwargs) -> None:
    """Each registered operation's create permission (declared on the operation, not in Batch.Meta)."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from batches.models import Batch
    from batches.operations import REGISTRY

    content_type = ContentType.objects.db_manager(using).get_for_model(Batch)
    for operation in REGISTRY.values():
        Permission.objects.db_manager(using).update_or_create(
            content_type=content_type, codename=operation.permission_codename,
            defaults={"name": operation.permission_name},
        )
