from django.apps import AppConfig
from django.db.models.signals import post_migrate

from memories.signals import ensure_index_after_migrate


class MemoriesConfig(AppConfig):
    name = "memories"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(ensure_index_after_migrate, sender=self)
