from django.apps import AppConfig


class PicardConfig(AppConfig):
    name = "picard"
    verbose_name = "Picard accounts"
    default_auto_field = "django.db.models.BigAutoField"
