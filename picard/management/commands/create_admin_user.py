"""``manage.py create_admin_user``: create (or repair) the administrator account. Idempotent."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from picard.context import call_context
from picard.exceptions import DomainError
from picard.services import user_ensure_admin


class Command(BaseCommand):
    help = (
        "Create a superuser, or make an existing user an active superuser (safe to run on every deploy). "
        "Values come from the flags or from PICARD_ADMIN_USERNAME / PICARD_ADMIN_EMAIL / PICARD_ADMIN_PASSWORD. "
        "Without a password, a new account gets a random one, printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", help="Login name (default: $PICARD_ADMIN_USERNAME, else 'admin').")
        parser.add_argument("--email", help="E-mail address (default: $PICARD_ADMIN_EMAIL).")
        parser.add_argument(
            "--password-env", default="PICARD_ADMIN_PASSWORD", metavar="VAR",
            help="Name of the environment variable holding the password (default PICARD_ADMIN_PASSWORD). "
            "There is no --password flag on purpose: command lines are visible to other users.",
        )
        parser.add_argument(
            "--reset-password", action="store_true",
            help="Also set the password of an existing account (from the variable, or a new random one).",
        )

    def handle(self, *args, **options):
        username = options["username"] or os.environ.get("PICARD_ADMIN_USERNAME") or "admin"
        email = options["email"] or os.environ.get("PICARD_ADMIN_EMAIL", "")
        password = os.environ.get(options["password_env"]) or None
        try:
            with call_context(surface="command"):
                user, created, generated = user_ensure_admin(
                    username=username, email=email, password=password, reset_password=options["reset_password"],
                )
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} superuser {user.username!r} (id {user.id})."))
        if generated:
            self.stdout.write(
                f"Generated password (shown once, store it now): {generated}\n"
                "Change it after signing in, or rerun with --reset-password."
            )
        elif not created and not options["reset_password"]:
            self.stdout.write("Password unchanged (use --reset-password to set it).")
