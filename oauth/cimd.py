"""Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document) that say why
they failed.

DOT resolves an ``https://`` client id by fetching its document (``oauth2_provider.cimd``,
SSRF-hardened) and, on any failure, treats the client as unknown: the person only saw
"Invalid client_id parameter value". Here the fetcher notes the reason per URL (in the
cache, as long as DOT's failure back-off), and the validator answers ``invalid_client``
naming the URL and that reason — worded so it reveals nothing about the server's own
network (no resolved addresses). ``PICARD_CIMD_ENABLED=false`` turns the mechanism off and
stops advertising it (``client_id_metadata_document_supported``); clients then register
with dynamic client registration.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher, is_cimd_client_id
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749.errors import FatalClientError

_REASON_KEY = "picard:cimd-failure:"
_NO_NETWORK_HINT = "if this server has no outbound internet access, set PICARD_CIMD_ENABLED=false"


class CIMDClientError(FatalClientError):
    """A client id that is a metadata-document URL Picard could not use (never redirected):
    400 on the authorization page, 401 at the token endpoint (as oauthlib's invalid_client)."""

    error = "invalid_client"
    status_code = 400


def _key(client_id: str) -> str:
    return _REASON_KEY + hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()


def safe_reason(exc: CIMDError) -> str:
    """DOT's reason, minus what would map the server's network (addresses, resolver output)."""
    message = str(exc)
    if message.startswith("could not resolve client_id host"):
        return f"its host name could not be resolved ({_NO_NETWORK_HINT})"
    if "non-public address" in message or "did not resolve to any address" in message:
        return "its host does not resolve to a public internet address"
    if message.startswith("could not fetch client_id document"):
        return f"the document could not be downloaded: the connection failed or timed out ({_NO_NETWORK_HINT})"
    return message.replace("client_id document", "the document")


class PicardMetadataFetcher(SafeMetadataFetcher):
    """``CIMD_METADATA_FETCHER``: DOT's fetcher, noting why a URL could not be used."""

    def fetch(self, client_id):
        ttl = max(int(oauth2_settings.CIMD_FAILURE_BACKOFF_SECONDS or 0), 60)
        try:
            result = super().fetch(client_id)
        except CIMDError as exc:
            cache.set(_key(client_id), safe_reason(exc), ttl)
            raise
        # Consulted only if DOT then rejects the document's content.
        cache.set(_key(client_id), "the document was downloaded but is not valid client metadata for this URL "
                  "(its client_id must equal the URL; a public client with https or loopback redirect_uris)", ttl)
        return result


def cimd_failure(client_id) -> str | None:
    """Why the metadata-document client id ``client_id`` is not usable, or None when it is
    not one (an ordinary unknown client id)."""
    if not isinstance(client_id, str) or not is_cimd_client_id(client_id):
        return None
    if not oauth2_settings.CIMD_ENABLED:
        return "client ID metadata documents are turned off on this server (PICARD_CIMD_ENABLED=false); register the client with dynamic client registration instead"
    return cache.get(_key(client_id)) or "the document could not be used (see the server log)"


def raise_cimd_failure(client_id, request, *, status_code: int = 400) -> None:
    """Raise ``invalid_client`` naming the URL and the reason, if ``client_id`` is a
    metadata-document URL that could not be used."""
    reason = cimd_failure(client_id)
    if reason is not None and not get_application_model().objects.filter(client_id=client_id).exists():
        raise CIMDClientError(description=f"The client ID metadata document {client_id[:300]} could not be used: {reason}.",
                              status_code=status_code, request=request)
