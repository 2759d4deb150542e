from django.apps import AppConfig


class PicardConfig(AppConfig):
    name = "picard"
    verbose_name = "Picard accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connect the start-up key check, the login back-off signals and the exception
        # recorder used by the error middleware.
        from picard import checks, middleware, ratelimit  # noqa: F401
