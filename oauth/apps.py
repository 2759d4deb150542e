from django.apps import AppConfig


class OauthConfig(AppConfig):
    name = "oauth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from oauth2_provider.models import Application  # noqa: PLC0415 - runs in ready(): models cannot load at apps.py import time

        from oauth.redirect_uris import allowed_schemes_for  # noqa: PLC0415 - runs in ready(), with the checks it registers

        # DOT asks each Application which redirect schemes it may use (model validation and
        # the final redirect of /authorize). Its setting is one global list, but native apps
        # each bring their own private-use scheme (cursor://, vscode://): the answer is http,
        # https and the schemes of this client's own registered URIs, which passed
        # oauth.redirect_uris when they were stored. (Swapping DOT's Application model for a
        # subclass would need a data migration of every client and token.)
        Application.get_allowed_schemes = lambda application: allowed_schemes_for(application.redirect_uris)
