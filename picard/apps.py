from django.apps import AppConfig


class PicardConfig(AppConfig):
    name = "picard"
    verbose_name = "Picard accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connect the start-up key check, the login back-off signals and the exception
        # recorder used by the error middleware.
        from picard import checks, ratelimit  # noqa: F401, PLC0415 - registers checks/signals in ready(): app modules cannot load at apps.py import time
        from picard.edge import django as edge_django  # noqa: F401, PLC0415 - registers signal handlers in ready(): app modules cannot load at apps.py import time
