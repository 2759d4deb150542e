"""Whole-system tests (``tests/system/``); app tests live next to their app (``*/tests/``)."""
