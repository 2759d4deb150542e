"""Input limits and shapes: every bad input is a clear ValidationError naming the field,
and nothing is written."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from memories import selectors, services
from memories.models import Activity, Memory
from picard.exceptions import NotFound, PayloadTooLarge, ValidationError

pytestmark = pytest.mark.django_db


def _nothing_written():
    assert Memory.objects.count() == 0
    assert Activity.objects.count() == 0


def test_text_at_the_limit_is_accepted_and_one_more_is_too_large(alice, settings):
    settings.PICARD_MEMORY_MAX_TEXT = 50
    services.memory_create(actor=alice, text="é" * 50)  # characters, not bytes
    with pytest.raises(PayloadTooLarge) as exc:
        services.memory_create(actor=alice, text="x" * 51)
    assert exc.value.details == {"field": "text", "limit": 50}
    assert exc.value.http_status == 413
    assert Memory.objects.count() == 1


@pytest.mark.parametrize("text", ["", "   \n\t", None, 42, ["a"], "a\x00b", "lone \ud800 surrogate"])
def test_bad_text(alice, text):
    with pytest.raises(ValidationError) as exc:
        services.memory_create(actor=alice, text=text)
    assert exc.value.details["field"] == "text"
    _nothing_written()


def test_tags_are_normalised(alice):
    memory = services.memory_create(actor=alice, text="ok", tags=[" Work ", "work", "C++", "a/b:c#d", "Zürich"])
    assert memory.tags == ["work", "c++", "a/b:c#d", "zürich"]


def test_tag_limits(alice, settings):
    services.memory_create(actor=alice, text="ok", tags=[f"t{i}" for i in range(settings.PICARD_MEMORY_MAX_TAGS)])
    services.memory_create(actor=alice, text="ok too", tags=["x" * settings.PICARD_MEMORY_MAX_TAG_LENGTH])
    assert Memory.objects.count() == 2
    bad = [
        [f"t{i}" for i in range(settings.PICARD_MEMORY_MAX_TAGS + 1)],
        ["x" * (settings.PICARD_MEMORY_MAX_TAG_LENGTH + 1)],
        [""], ["   "], ["-leading-dash"], ["semi;colon"], ["<script>"], [1], [None], "work", {"a": 1}, ["a\x00"],
    ]
    for tags in bad:
        with pytest.raises(ValidationError) as exc:
            services.memory_create(actor=alice, text="ok", tags=tags)
        assert exc.value.details["field"] == "tags", tags
    assert Memory.objects.count() == 2


def test_metadata_size_limit(alice, settings):
    settings.PICARD_MEMORY_MAX_METADATA_BYTES = 100
    ok = {"k": "x" * 90}  # {"k": "xxx…"} is 99 bytes of JSON
    services.memory_create(actor=alice, text="ok", metadata=ok)
    with pytest.raises(PayloadTooLarge) as exc:
        services.memory_create(actor=alice, text="ok", metadata={"k": "x" * 92})
    assert exc.value.details == {"field": "metadata", "limit": 100}
    assert Memory.objects.count() == 1


def test_metadata_depth_limit(alice):
    from memories.validation import MAX_METADATA_DEPTH

    def nested(depth):
        value = "leaf"
        for _ in range(depth):
            value = {"n": value}
        return value

    services.memory_create(actor=alice, text="ok", metadata=nested(MAX_METADATA_DEPTH))
    with pytest.raises(ValidationError, match="deeper"):
        services.memory_create(actor=alice, text="ok", metadata=nested(MAX_METADATA_DEPTH + 1))
    with pytest.raises(ValidationError, match="deeper"):
        services.memory_create(actor=alice, text="ok", metadata={"l": [[[[[[[[["x"]]]]]]]]]})
    assert Memory.objects.count() == 1


@pytest.mark.parametrize(
    "metadata",
    [[1, 2], "string", {"nan": float("nan")}, {"inf": float("inf")}, {1: "int key"}, {"k": b"bytes"},
     {"k": "nul\x00"}, {"k": {1, 2}}, {"k\x00": 1}],
)
def test_bad_metadata(alice, metadata):
    with pytest.raises(ValidationError) as exc:
        services.memory_create(actor=alice, text="ok", metadata=metadata)
    assert exc.value.details["field"] == "metadata"
    _nothing_written()


def test_metadata_round_trips(alice):
    data = {"source": "chat", "score": 0.5, "n": 3, "ok": True, "none": None, "list": [1, "two", {"three": 3}], "ünï": "cödé"}
    memory = services.memory_create(actor=alice, text="ok", metadata=data)
    assert Memory.objects.get(id=memory.id).metadata == data


@pytest.mark.parametrize(
    "expires",
    ["2001-01-01T00:00:00Z", "next tuesday", "2026-13-01T00:00:00Z", "", 12345, "9999-01-01T00:00:00Z"],
)
def test_bad_expiry(alice, expires):
    if expires == "":
        # An empty expiry means "never expires".
        assert services.memory_create(actor=alice, text="ok", expires_at=expires).expires_at is None
        return
    with pytest.raises(ValidationError) as exc:
        services.memory_create(actor=alice, text="ok", expires_at=expires)
    assert exc.value.details["field"] == "expiration_date"
    _nothing_written()


def test_expiry_in_the_past_by_a_second_is_refused(alice):
    with pytest.raises(ValidationError, match="future"):
        services.memory_create(actor=alice, text="ok", expires_at=timezone.now() - timedelta(seconds=1))


def test_expiry_formats_are_normalised_to_utc(alice):
    memory = services.memory_create(actor=alice, text="ok", expires_at="2099-06-01T12:00:00+02:00")
    assert memory.expires_at == datetime(2099, 6, 1, 10, tzinfo=UTC)
    naive = services.memory_create(actor=alice, text="ok, naive", expires_at="2099-06-01T12:00:00")
    assert naive.expires_at == datetime(2099, 6, 1, 12, tzinfo=UTC)
    lower_z = services.memory_create(actor=alice, text="ok, lower z", expires_at="2099-06-01t12:00:00z")
    assert lower_z.expires_at == datetime(2099, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("permission", ["PUBLIC", "everyone", 1, ["public"]])
def test_bad_permission(alice, permission):
    with pytest.raises(ValidationError) as exc:
        services.memory_create(actor=alice, text="ok", permission=permission)
    assert exc.value.details["field"] == "permission"
    _nothing_written()


def test_default_permission_comes_from_the_users_setting(make_user):
    sharer = make_user(default_permission="public")
    assert services.memory_create(actor=sharer, text="ok").permission == "public"


def test_uppercase_uuid_is_the_same_memory(alice):
    memory = services.memory_create(actor=alice, text="case")
    upper = str(memory.id).upper()
    assert selectors.memory_get_for_actor(actor=alice, memory_id=upper).id == memory.id
    updated = services.memory_update(actor=alice, memory_id=upper, tags=["x"])
    assert updated.id == memory.id
    assert services.memory_delete(actor=alice, memory_id=upper).id == memory.id


@pytest.mark.parametrize(
    "bad",
    [
        "{550e8400-e29b-41d4-a716-446655440000}",
        "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
        "550e8400e29b41d4a716446655440000",
        "550e8400-e29b-41d4-a716-44665544000g",
        " 550e8400-e29b-41d4-a716-44665544000",
        "",
        "1",
        "550e8400-e29b-41d4-a716-446655440000\n",
        "550e8400e-29b-41d4-a716-446655440000",
        12,
        None,
        "' OR 1=1 --",
    ],
)
def test_bad_uuids_are_validation_errors_on_every_path(alice, bad):
    for call in (
        lambda: selectors.memory_get_for_actor(actor=alice, memory_id=bad),
        lambda: services.memory_update(actor=alice, memory_id=bad, text="x"),
        lambda: services.memory_delete(actor=alice, memory_id=bad),
        lambda: services.memory_set_permission(actor=alice, memory_id=bad, permission="public"),
    ):
        with pytest.raises(ValidationError) as exc:
            call()
        assert exc.value.details == {"field": "memory_id"}
        assert not isinstance(exc.value, NotFound)


def test_well_formed_but_unknown_uuid_is_not_found(alice):
    with pytest.raises(NotFound):
        selectors.memory_get_for_actor(actor=alice, memory_id=uuid.uuid4())
    with pytest.raises(NotFound):
        services.memory_delete(actor=alice, memory_id=str(uuid.uuid4()))
