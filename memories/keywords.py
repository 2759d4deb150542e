"""Keyword terms without plaintext: normalise, stem, and hash words with a secret key.

A memory's text is encrypted, so a plaintext full-text index is not allowed. Instead each
text becomes a bag of *term hashes*: the text is Unicode-normalised (NFKC), lower-cased,
split into words, English stop words are dropped, the rest are stemmed with the Snowball
stemmer (``PICARD_KEYWORD_STEMMER``), and every stem is replaced by the first 8 bytes of
HMAC-SHA256(``PICARD_TERM_HASH_KEY``, stem) read as a signed 64-bit integer. The database
sees which memories share a term and how often, never the term (docs/search.md).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata
from collections import Counter

import snowballstemmer
from django.conf import settings

from picard.exceptions import ConfigurationError

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*", re.UNICODE)
MAX_TERM_LENGTH = 64

# English function words and question words: they carry no topic. Kept short on purpose:
# words such as "new", "first" or "last" can matter in a memory ("my first car").
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    let's me more most mustn't my myself no nor not of off on once only or other ought our ours ourselves
    out over own same shan't she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this those through
    to too under until up very was wasn't we we'd we'll we're we've were weren't what what's when when's
    where where's which while who who's whom why why's will with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves also just s t d ll m re ve yes yeah oh hey hi wow
    """.split()
)


@functools.lru_cache(maxsize=4)
def _stemmer(language: str):
    return snowballstemmer.stemmer(language)


@functools.lru_cache(maxsize=200_000)
def _stem(word: str, language: str) -> str:
    return _stemmer(language).stemWord(word)


def normalise(text: str) -> list[str]:
    """The index terms of ``text`` in order: lower-cased, stop words out, stemmed."""
    language = settings.PICARD_KEYWORD_STEMMER
    out = []
    for match in _WORD.finditer(unicodedata.normalize("NFKC", text).lower()):
        word = match.group(0)
        if word in STOP_WORDS:
            continue
        if word.endswith("'s"):
            word = word[:-2]
        word = word.replace("'", "")
        if not word or len(word) > MAX_TERM_LENGTH or (len(word) == 1 and not word.isdigit()):
            continue
        out.append(_stem(word, language))
    return out


def _key() -> bytes:
    key = settings.PICARD_TERM_HASH_KEY
    if not key:
        raise ConfigurationError("PICARD_TERM_HASH_KEY is empty: set a long random secret.")
    return key.encode("utf-8")


def term_hash(term: str, *, key: bytes | None = None) -> int:
    digest = hmac.new(key or _key(), term.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def key_id() -> str:
    """A public fingerprint of the current term-hash key (which postings are current)."""
    return hmac.new(_key(), b"picard:term-hash-key-id", hashlib.sha256).hexdigest()[:16]


def metadata_words(metadata) -> str:
    """The string values of a memory's metadata (nested too; keys and numbers left out), as
    text to index next to the memory's own words: a date, a place or a name a client put in
    the metadata is then found by keyword (document-side expansion, docs/search.md).
    Metadata is stored in clear already, so this reveals nothing new."""
    out: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(metadata or {})
    return " ".join(out)


def document_text(text: str, metadata=None) -> str:
    """What the keyword index holds for a memory: its text and its metadata's words."""
    words = metadata_words(metadata)
    return f"{text}\n{words}" if words else text


def hashed_terms(text: str) -> tuple[dict[int, int], int]:
    """``({term_hash: frequency}, number of terms)`` for a text."""
    terms = normalise(text)
    key = _key()
    counts: Counter[int] = Counter(term_hash(t, key=key) for t in terms)
    return dict(counts), len(terms)


def normalise_text(text: str) -> str:
    """A memory's text as duplicates are compared: Unicode NFKC, case-folded, every run of
    whitespace one space, no surrounding whitespace or trailing full stop."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return folded.rstrip(".").rstrip()


def text_digest(text: str) -> str:
    """Keyed hash (HMAC-SHA256 under the term-hash key) of ``normalise_text(text)``: equal for
    two texts that differ only in case, spacing or a final full stop."""
    return hmac.new(_key(), b"picard:text:" + normalise_text(text).encode("utf-8"), hashlib.sha256).hexdigest()
