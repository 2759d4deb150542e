"""bench/locomo.py on a tiny LoCoMo-shaped conversation (made up here; the real data is never copied)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from memories.search import calibration

pytestmark = pytest.mark.django_db

_spec = importlib.util.spec_from_file_location("bench_locomo", Path(__file__).resolve().parents[2] / "bench" / "locomo.py")
locomo = importlib.util.module_from_spec(_spec)
sys.modules["bench_locomo"] = locomo  # dataclasses look their module up
_spec.loader.exec_module(locomo)

CONVERSATION = {
    "sample_id": "conv-test",
    "conversation": {
        "speaker_a": "Ada",
        "speaker_b": "Ben",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ada", "dia_id": "D1:1", "text": "I adopted a tortoise called Gordon yesterday."},
            {"speaker": "Ben", "dia_id": "D1:2", "text": "Lovely! I am learning the cello.", "blip_caption": "a photo of a cello"},
        ],
        "session_2_date_time": "10:00 am on 9 June, 2023",
        "session_2": [{"speaker": "Ada", "dia_id": "D2:1", "text": "Gordon the tortoise ate a strawberry."}],
    },
    "qa": [
        {"question": "What pet did Ada adopt?", "answer": "a tortoise", "evidence": ["D1:1"], "category": 4},
        {"question": "What does Gordon eat and what does Ben play?", "answer": "x", "evidence": ["D2:1; D1:2"], "category": 1},
        {"question": "No evidence here", "answer": "x", "evidence": [], "category": 4},
        {"question": "Adversarial", "adversarial_answer": "x", "evidence": ["D1:1"], "category": 5},
    ],
    "observation": {"session_1_observation": {"Ada": [["Ada has a pet tortoise named Gordon.", "D1:1"]]}},
}


def test_bench_loads_turns_through_services_and_scores_recall(make_user):
    loaded = locomo.load([CONVERSATION], log=lambda *_: None)
    assert loaded.memories == 3 and len(loaded.questions) == 2  # no-evidence and category 5 skipped
    user = loaded.users[0]
    texts = sorted(m.text for m in user.memories.all())
    assert "Ben: Lovely! I am learning the cello. [shares a photo of a cello]" in texts
    first = user.memories.get(metadata__dia_id="D1:1")
    assert first.metadata["session_date"] == "2023-05-08T13:56:00"
    assert loaded.questions[1].evidence == frozenset({"D2:1", "D1:2"})
    for mode in locomo.MODES:
        result = locomo.evaluate(loaded, mode, min_score=0.0)  # every candidate: the test embedder is not calibrated
        assert result["n"] == 2 and result["categories"][4]["n"] == 1
        assert result["recall@20"] == 1.0  # only three turns: everything is found
        assert 0 < result["mrr"] <= 1 and result["p95_ms"] >= result["p50_ms"] > 0
    keyword = locomo.evaluate(loaded, "keyword", min_score=0.0)
    assert keyword["categories"][4]["mrr"] == 1.0  # "adopt" ranks D1:1 first
    assert locomo.load_facts([CONVERSATION], loaded, log=lambda *_: None) == 1


def test_bench_measures_false_alarms_mixed_users_and_fits_a_calibration(make_user):
    other = {**CONVERSATION, "sample_id": "conv-other", "qa": [],
             "conversation": {**CONVERSATION["conversation"], "session_1": [{"speaker": "Cy", "dia_id": "D1:1", "text": "Rain again in Leeds."}],
                              "session_2": []}}
    loaded = locomo.load([CONVERSATION, other], log=lambda *_: None)
    ood = locomo.out_of_domain(loaded, "hybrid", min_score=0.0)
    assert ood["n"] == 2 and ood["false_alarm_rate"] == 1.0  # without a threshold something always comes back
    mixed = locomo.mixed_users(loaded, "hybrid", min_score=0.0)
    assert mixed["default_scope_foreign_hits"] == 0 and mixed["scope_all_foreign_hits"] > 0
    rows = locomo.collect_candidates(loaded, "hybrid")
    assert {r["domain"] for r in rows} == {"in", "out"} and any(r["label"] for r in rows)
    assert not any(r["label"] for r in rows if r["domain"] == "out")
    shift = locomo.prior_shift(rows)
    assert shift > 0  # fewer relevant candidates than others: the class-balanced prior raises every score
    fitted = {mode: {"features": features, "weights": locomo.fit_logistic(rows, features, shift=shift)}
              for mode, features in calibration.MODE_FEATURES.items()}
    assert len(fitted["hybrid"]["weights"]) == 1 + len(calibration.MODE_FEATURES["hybrid"])
    assert 'Calibration(intercept=' in locomo.calibration_source(fitted)
    sweep = locomo.threshold_sweep(rows, loaded, fitted)
    assert sweep[0]["min_score"] == 0.0 and sweep[0]["false_alarm_rate"] == 1.0


def test_bench_writes_only_its_own_section(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text("# Benchmarks\n\n<!-- BEGIN search -->\nother\n<!-- END search -->\n")
    locomo.write_section("locomo", "first", path=path)
    locomo.write_section("locomo", "second", path=path)
    text = path.read_text()
    assert "other" in text and "second" in text and "first" not in text
    assert text.count("<!-- BEGIN locomo -->") == 1


@pytest.mark.real_embedder
def test_report_headlines_the_default_setup_and_labels_the_facts_rows_apart(real_embedder, tmp_path):
    loaded = locomo.load([CONVERSATION], log=lambda *_: None)
    results = [locomo.evaluate(loaded, mode) for mode in locomo.MODES]
    facts = locomo.load_facts([CONVERSATION], loaded, log=lambda *_: None)
    extra = [{**locomo.evaluate(loaded, mode), "mode": f"{mode}+facts"} for mode in locomo.MODES]
    text = locomo.markdown(results, data_path=tmp_path / "x.json", loaded=loaded, conversations=1, facts=facts, extra=extra)
    headline, rest = text.split("### Not the default setup")
    assert "### Default offline setup" in headline and "+facts" not in headline
    for mode in locomo.MODES:
        assert f"| **{mode}** | **overall 1–4** |" in headline
        assert f"| {mode} | 4 single-hop |" in headline
        assert f"| **{mode}+facts** | **overall 1–4** |" in rest
