"""``manage.py create_access_token --user U --scopes "memories:read memories:write"``: a
personal access token for scripts, printed once (stored only as its SHA-256 checksum)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from oauth.services import personal_token_create
from picard.context import call_context
from picard.exceptions import DomainError


class Command(BaseCommand):
    help = "Create a personal access token for a user and print it once (it is stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username of the person the token acts as.")
        parser.add_argument("--scopes", default="memories:read memories:write",
                            help='Space-separated scopes (default "memories:read memories:write"; memories:admin for staff only).')
        parser.add_argument("--name", default="created by an administrator", help="A name to recognise the token by (default: created by an administrator).")
        parser.add_argument("--expires-days", type=int, default=30, help="Days until the token expires (default 30, at most 3650).")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"--user: no user {options['user']!r}.")
        try:
            with call_context(surface="command"):
                created = personal_token_create(user=user, name=options["name"], scopes=options["scopes"].split(),
                                                expires_days=options["expires_days"])
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        token = created.token
        self.stdout.write(f"token: {created.raw}")
        self.stdout.write(f"name: {token.name}")
        self.stdout.write(f"user: {user.username}")
        self.stdout.write(f"scopes: {token.scope}")
        self.stdout.write(f"expires: {token.expires_at.isoformat()}")
        self.stdout.write(f"mcp_url: {settings.PICARD_MCP_RESOURCE}")
        self.stdout.write("Store the token now: it is stored hashed and cannot be shown again. "
                          f"Use it as 'Authorization: Bearer <token>' on {settings.PICARD_PUBLIC_URL}/api/tools and /mcp.")
