#!/usr/bin/env python
"""Django's command-line utility for Picard."""

import os
import sys


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - manage.py must still say so on an older Python
        sys.exit(f"Picard needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
