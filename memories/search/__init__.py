"""Search: the visibility rule's parts as SQL (``parts``), the semantic and keyword channels
(``semantic``, ``keyword``), hybrid orders (``fusion``), calibrated scores
(``calibration``) and the entry point ``memory_search`` (``query``). Reads only: the
"searched" activity row is written by ``memories.services.memory_query``."""

from memories.reembed import search_state_forget
from memories.search import keyword, semantic
from memories.search.calibration import CALIBRATIONS, Calibration, calibrated_score
from memories.search.fusion import FUSIONS, fuse_rankings, fuse_scores
from memories.search.keyword import BM25_B, BM25_K1, TEMPORAL_TERMS, TEMPORAL_WEIGHT, keyword_query_terms, public_keyword_stats
from memories.search.parts import SearchHit
from memories.search.query import SEARCH_MODES, SearchResults, clean_min_score, clean_search_mode, memory_search
from memories.search.semantic import public_index_pays_off


def search_caches_clear() -> None:
    """Forget what searches cache per process (public keyword statistics, the index choice,
    the embedding state)."""
    keyword.public_stats_clear()
    semantic.index_choice.clear()
    search_state_forget()


__all__ = [
    "BM25_B", "BM25_K1", "CALIBRATIONS", "Calibration", "FUSIONS", "SEARCH_MODES", "SearchHit", "SearchResults",
    "TEMPORAL_TERMS", "TEMPORAL_WEIGHT", "calibrated_score", "clean_min_score", "clean_search_mode", "fuse_rankings",
    "fuse_scores", "keyword_query_terms", "memory_search", "public_index_pays_off", "public_keyword_stats",
    "search_caches_clear",
]
