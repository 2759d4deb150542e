"""Client ids are UUID v4 strings, as the seed promised (``CLIENT_ID_GENERATOR_CLASS``)."""

from __future__ import annotations

import uuid

from oauth2_provider.generators import BaseHashGenerator


class UUIDClientIdGenerator(BaseHashGenerator):
    def hash(self) -> str:
        return str(uuid.uuid4())
