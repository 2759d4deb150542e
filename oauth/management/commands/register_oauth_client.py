"""``manage.py register_oauth_client``: register an OAuth client and show its credentials once."""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from oauth.services import client_register
from picard.context import call_context
from picard.exceptions import DomainError

_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """Set ``values`` in a dotenv file: existing keys are replaced in place, others kept,
    new ones appended. The file is (re)written with mode 0600 — it holds a secret."""
    lines = path.read_text().splitlines() if path.exists() else []
    remaining = dict(values)
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in remaining:
            out.append(f"{key}={remaining.pop(key)}")
        else:
            out.append(line)
    out += [f"{k}={v}" for k, v in remaining.items()]
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(out) + "\n")
    os.replace(tmp, path)


class Command(BaseCommand):
    help = (
        "Register an OAuth client (authorization-code grant with PKCE; UUID client id). Prints the client id "
        "and, for a confidential client, the secret — ONCE: it is stored hashed. --env-file also writes them "
        "to a dotenv file (mode 0600) for the application that will use them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Name shown to users on the consent page and in their connected apps.")
        parser.add_argument(
            "--redirect-uri", action="append", default=[], dest="redirect_uris", metavar="URI",
            help="Allowed redirect URI (repeat for several). Loopback http://127.0.0.1:<port>/... is fine for desktop apps.",
        )
        parser.add_argument(
            "--scope", action="append", default=[], dest="scopes", metavar="SCOPE",
            help="Scope the client may request (repeat; default: any). One of: " + ", ".join(settings.OAUTH2_PROVIDER["SCOPES"]) + ".",
        )
        parser.add_argument("--public", action="store_true", help="A public client (no secret: browser or native apps using PKCE). Default: confidential.")
        parser.add_argument(
            "--user-token-flow", action="store_true",
            help="Allow this (confidential) client to obtain tokens for its users via the user-token API.",
        )
        parser.add_argument("--skip-authorization", action="store_true", help="Trusted first-party client: no consent screen.")
        parser.add_argument("--owner", metavar="USERNAME", help="Record this user as the client's owner.")
        parser.add_argument("--env-file", metavar="PATH", help="Also write the credentials to this dotenv file (created or updated, mode 0600).")
        parser.add_argument("--env-prefix", default="PICARD_OAUTH_", metavar="PREFIX", help="Prefix of the variable names written to --env-file (default PICARD_OAUTH_).")

    def handle(self, *args, **options):
        prefix = options["env_prefix"]
        if options["env_file"] and not _KEY.match(prefix + "X"):
            raise CommandError("--env-prefix must be upper-case letters, digits and underscores.")
        env_path = Path(options["env_file"]).expanduser() if options["env_file"] else None
        if env_path and not env_path.parent.is_dir():
            raise CommandError(f"--env-file: folder {env_path.parent} does not exist.")
        owner = None
        if options["owner"]:
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"--owner: no user {options['owner']!r}.")
        try:
            with call_context(surface="command"):
                registered = client_register(
                    name=options["name"],
                    redirect_uris=options["redirect_uris"],
                    client_type="public" if options["public"] else "confidential",
                    allow_user_token_flow=options["user_token_flow"],
                    skip_authorization=options["skip_authorization"],
                    allowed_scopes=options["scopes"],
                    owner=owner,
                )
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        base = settings.PICARD_PUBLIC_URL
        values = {
            f"{prefix}CLIENT_ID": registered.client_id,
            **({f"{prefix}CLIENT_SECRET": registered.client_secret} if registered.client_secret else {}),
            f"{prefix}ISSUER": base,
            f"{prefix}AUTHORIZE_URL": f"{base}/authorize",
            f"{prefix}TOKEN_URL": f"{base}/token",
        }
        self.stdout.write(self.style.SUCCESS(f"Registered {'public' if options['public'] else 'confidential'} client {options['name']!r}."))
        self.stdout.write(f"client_id:     {registered.client_id}")
        if registered.client_secret:
            self.stdout.write(f"client_secret: {registered.client_secret}")
            self.stdout.write(self.style.WARNING("The secret is shown only now (it is stored hashed). Store it safely."))
        self.stdout.write(f"issuer:        {base}\nauthorize:     {base}/authorize\ntoken:         {base}/token")
        if env_path:
            write_env_file(env_path, values)
            self.stdout.write(f"Wrote {', '.join(values)} to {env_path} (mode 0600).")
