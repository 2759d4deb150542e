"""Memories: encrypted text, visibility, tags/metadata in clear, an embedding per row."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import connection, models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from pgvector.django import VectorField

from memories.crypto import decrypt, encrypt


class Permission(models.TextChoices):
    PRIVATE = "private", "Private (only you)"
    PUBLIC = "public", "Public (signed-in users and personas)"
    SHARED = "shared", "Shared (named users or groups)"


class MemoryQuerySet(models.QuerySet):
    def active(self, *, now=None) -> MemoryQuerySet:
        now = now or timezone.now()
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def expired(self, *, now=None) -> MemoryQuerySet:
        return self.filter(expires_at__lte=now or timezone.now())

    def not_trashed(self) -> MemoryQuerySet:
        return self.filter(trashed_at__isnull=True)

    def trashed(self) -> MemoryQuerySet:
        return self.filter(trashed_at__isnull=False)

    def visibility_parts(self, actor, *, include_own_expired: bool = False, now=None) -> dict[str, Q]:
        """THE visibility rule, as three disjoint conditions. Every read path uses these
        (``visible_to`` ORs them; search runs each part with its own index strategy).

        - ``own``: the actor's own memories (expired ones only when ``include_own_expired``);
        - ``shared``: others' ``shared`` memories naming the actor or one of the actor's
          groups, not expired;
        - ``public``: others' ``public`` memories, not expired.

        A memory in the trash (``trashed_at`` set) is in no part: to everyone, its owner
        included, it is gone from every read until it is restored.
        """
        now = now or timezone.now()
        not_expired = (Q(expires_at__isnull=True) | Q(expires_at__gt=now)) & Q(trashed_at__isnull=True)
        # The actor's groups are read first (one small query): with a subquery inside the OR,
        # PostgreSQL could not use the index on memoryshare.user_id and scanned every shared
        # memory instead (30x slower with 100 000 memories).
        group_ids = list(actor.groups.values_list("id", flat=True))
        grant = Q(user=actor) | Q(group_id__in=group_ids) if group_ids else Q(user=actor)
        shared_with_actor = Exists(MemoryShare.objects.filter(memory=OuterRef("pk")).filter(grant))
        return {
            "own": (Q(owner=actor) & Q(trashed_at__isnull=True)) if include_own_expired else (Q(owner=actor) & not_expired),
            "shared": ~Q(owner=actor) & Q(permission=Permission.SHARED) & not_expired & shared_with_actor,
            "public": ~Q(owner=actor) & Q(permission=Permission.PUBLIC) & not_expired,
        }

    def visibility_parts_sql(self, actor, *, now=None) -> dict[str, tuple[str, list]]:
        """``visibility_parts`` (expired memories left out of every part) as plain SQL: each
        part's memory ids, for raw search statements. The same SQL the ORM compiles the Q
        form to, written out because compiling it cost ~4 ms per search (a test keeps the
        two forms equal)."""
        now = now or timezone.now()
        through = actor.__class__.groups.through._meta  # __class__: request.user is a lazy proxy
        with connection.cursor() as cursor:  # the actor's groups, without compiling an ORM query
            cursor.execute(f'SELECT "group_id" FROM "{through.db_table}" WHERE "user_id" = %s', [actor.pk])
            group_ids = [row[0] for row in cursor.fetchall()]
        not_expired = ('("memories_memory"."expires_at" IS NULL OR "memories_memory"."expires_at" > %s)'
                       ' AND "memories_memory"."trashed_at" IS NULL')
        grant, grant_params = 'U0."user_id" = %s', [actor.pk]
        if group_ids:
            grant, grant_params = f'({grant} OR U0."group_id" = ANY(%s))', [actor.pk, group_ids]
        select = 'SELECT "memories_memory"."id" AS "id" FROM "memories_memory" WHERE '
        others = 'NOT ("memories_memory"."owner_id" = %s) AND "memories_memory"."permission" = %s AND '
        return {
            "own": (select + f'"memories_memory"."owner_id" = %s AND {not_expired}', [actor.pk, now]),
            "shared": (
                select + others + not_expired + ' AND EXISTS(SELECT 1 AS "a" FROM "memories_memoryshare" U0 '
                f'WHERE (U0."memory_id" = ("memories_memory"."id") AND {grant}) LIMIT 1)',
                [actor.pk, Permission.SHARED.value, now, *grant_params],
            ),
            "public": (select + others + not_expired, [actor.pk, Permission.PUBLIC.value, now]),
        }

    def visible_to(self, actor, *, include_own_expired: bool = False, now=None) -> MemoryQuerySet:
        """Memories ``actor`` may read (see ``visibility_parts``). Anonymous actors see nothing."""
        if actor is None or not getattr(actor, "is_authenticated", False):
            return self.none()
        parts = self.visibility_parts(actor, include_own_expired=include_own_expired, now=now)
        return self.filter(parts["own"] | parts["shared"] | parts["public"])


class Memory(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memories")
    # Fernet token (urlsafe base64, ASCII) of the UTF-8 text. Plaintext is never stored.
    text_encrypted = models.TextField()
    permission = models.CharField(max_length=16, choices=Permission.choices, default=Permission.PRIVATE)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # Optimistic-concurrency counter: bumped on every change; callers may send it back.
    version = models.PositiveIntegerField(default=1)
    # Untyped pgvector column: rows of different models (dimensions) live side by side; each
    # model gets its own partial expression index (see memories.vector_index).
    embedding = VectorField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200, null=True, blank=True)
    # During an embedding-model switch (``manage.py reembed``, see memories.reembed): the
    # vector for the *target* model. Search keeps using ``embedding`` until the switch
    # completes, then the two are swapped in one transaction. NULL outside a switch.
    embedding_next = VectorField(null=True, blank=True)
    embedding_next_model = models.CharField(max_length=200, null=True, blank=True)
    # In the trash since then (``memory_trash``): invisible to every read (the visibility rule
    # leaves it out), restorable until ``memory_purge_trash`` deletes it for good.
    trashed_at = models.DateTimeField(null=True, blank=True)
    # The import that created it (undo an import: its memories go to the trash in one step).
    import_job = models.ForeignKey("ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="memories")

    objects = MemoryQuerySet.as_manager()

    class Meta:
        verbose_name = "memory"
        verbose_name_plural = "memories"
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="memory_owner_created"),
            models.Index(fields=["owner", "-updated_at"], name="memory_owner_updated"),
            models.Index(fields=["permission", "-created_at"], name="memory_perm_created"),
            # Listing others' public memories by last change (get_memories sort=updated).
            models.Index(fields=["permission", "-updated_at"], name="memory_perm_updated"),
            models.Index(fields=["expires_at"], name="memory_expires", condition=Q(expires_at__isnull=False)),
            models.Index(fields=["embedding_model"], name="memory_embedding_model"),
            models.Index(fields=["owner", "-trashed_at"], name="memory_owner_trashed", condition=Q(trashed_at__isnull=False)),
            GinIndex(fields=["tags"], name="memory_tags_gin"),
            # Keyword search over others' public memories checks each matching posting's
            # memory: this answers from the index alone (no table row read per posting).
            models.Index(fields=["id"], include=["owner", "expires_at"], condition=Q(permission="public"),
                         name="memory_public_visible"),
        ]

    def __str__(self) -> str:
        return f"Memory {self.id}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def text(self) -> str:
        cached = getattr(self, "_plaintext", None)
        if cached is None:
            cached = decrypt(self.text_encrypted)
            self._plaintext = cached
        return cached

    def set_text(self, value: str) -> None:
        self.text_encrypted = encrypt(value)
        self._plaintext = value


class MemoryVersion(models.Model):
    """One version of a memory as it was written: every create, text/tag/metadata/expiry
    change and permission change stores the state it produced (text encrypted like the
    memory's), with the door and client that made it. ``memory_history`` lists them;
    ``memory_restore_version`` writes an old one back as a new version. Deleted with the
    memory when it is purged (CASCADE)."""

    id = models.BigAutoField(primary_key=True)
    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    text_encrypted = models.TextField()
    permission = models.CharField(max_length=16, choices=Permission.choices)
    shared_with = models.JSONField(default=dict, blank=True)  # {"users": [uuid], "groups": [name]}
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    surface = models.CharField(max_length=16, default="internal")  # web | api | mcp | command | internal
    client_id = models.CharField(max_length=100, null=True, blank=True)
    # What the change was: create | update | permission | restore | merge | legacy
    change = models.CharField(max_length=16, default="update")
    # A merge: the memory merged into this one (it went to the trash with its own history).
    merged_from = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        verbose_name = "memory version"
        verbose_name_plural = "memory versions"
        constraints = [models.UniqueConstraint(fields=["memory", "version"], name="memoryversion_unique")]

    def __str__(self) -> str:
        return f"Memory {self.memory_id} v{self.version}"

    @property
    def text(self) -> str:
        cached = getattr(self, "_plaintext", None)
        if cached is None:
            cached = self._plaintext = decrypt(self.text_encrypted)
        return cached


class EmbeddingState(models.Model):
    """Which embedding model the stored vectors (and so every search) use, and the model a
    switch in progress moves to. One row (pk=1), created by the first ``reembed``; without
    it the configured provider (``PICARD_EMBEDDINGS``) is the active one."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    active_model = models.CharField(max_length=200)
    # Provider settings (never an API key: that always comes from the environment).
    active_config = models.JSONField(default=dict)
    target_model = models.CharField(max_length=200, null=True, blank=True)
    target_config = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    switched_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "embedding state"
        verbose_name_plural = "embedding states"

    def __str__(self) -> str:
        return f"embeddings: {self.active_model}" + (f" -> {self.target_model}" if self.target_model else "")


class MemoryShare(models.Model):
    """One grant of a ``shared`` memory to a user or to a group."""

    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE)

    class Meta:
        verbose_name = "memory share"
        verbose_name_plural = "memory shares"
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True)) | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="memoryshare_user_xor_group",
            ),
            models.UniqueConstraint(fields=["memory", "user"], name="memoryshare_unique_user", condition=Q(user__isnull=False)),
            models.UniqueConstraint(fields=["memory", "group"], name="memoryshare_unique_group", condition=Q(group__isnull=False)),
        ]
        indexes = [models.Index(fields=["user"]), models.Index(fields=["group"])]


class Activity(models.Model):
    """Audit trail: who did what to which memories, through which surface and client.

    Never holds memory text. ``memory_ids`` are UUIDs; ``details`` holds counts, scores,
    timings and token usage only.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities")
    action = models.CharField(max_length=40)
    surface = models.CharField(max_length=16, default="internal")
    client_id = models.CharField(max_length=100, null=True, blank=True)
    memory_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = "activity"
        verbose_name_plural = "activities"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["actor", "-created_at"], name="activity_actor_created"),
            models.Index(fields=["action", "-created_at"], name="activity_action_created"),
            GinIndex(fields=["memory_ids"], name="activity_memory_ids_gin"),
        ]


class KeywordDocument(models.Model):
    """One memory's entry in the keyword index: its length in terms and the id of the
    term-hash key its postings were made with (``memories.keywords.key_id``).

    The keyword index never holds a word: only keyed hashes (see docs/search.md)."""

    memory = models.OneToOneField(Memory, primary_key=True, on_delete=models.CASCADE, related_name="keyword_document")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    length = models.PositiveIntegerField()
    key_id = models.CharField(max_length=16)
    # Keyed hash (same key as the terms) of the memory's normalised text
    # (``keywords.text_digest``): finds an exact duplicate without decrypting anything.
    text_digest = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = "keyword document"
        verbose_name_plural = "keyword documents"
        indexes = [
            models.Index(fields=["owner", "key_id"], name="keyworddoc_owner_key"),
            models.Index(fields=["owner", "text_digest"], name="keyworddoc_owner_digest"),
            # A posting's document length without reading the table row (keyword search).
            models.Index(fields=["memory"], include=["key_id", "length"], name="keyworddoc_memory_length"),
        ]


class KeywordPosting(models.Model):
    """``term_hash`` (first 8 bytes of HMAC-SHA256(PICARD_TERM_HASH_KEY, stemmed term), as a
    signed 64-bit integer) occurs ``tf`` times in ``memory``."""

    id = models.BigAutoField(primary_key=True)
    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    term_hash = models.BigIntegerField()
    tf = models.PositiveIntegerField()
    # Copies, so that searching others' public memories reads postings alone (one partial,
    # covering index) instead of looking up each posting's memory and document:
    length = models.PositiveIntegerField(default=0)  # the document's length, written with it
    # The memory's permission == public and its expires_at. A database trigger copies both on
    # insert and whenever the memory's permission or expiry changes, whatever writes the row
    # (services, admin, import, COPY); see migration 0008.
    public = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "keyword posting"
        verbose_name_plural = "keyword postings"
        indexes = [
            models.Index(fields=["owner", "term_hash"], name="keywordposting_owner_term"),
            # Covering: search reads the postings of its terms from the index alone.
            models.Index(fields=["term_hash"], include=["memory", "tf"], name="keywordposting_term_cover"),
            # Others' public memories: the postings of the query's terms, from the index alone.
            models.Index(
                fields=["term_hash"], include=["memory", "owner", "tf", "length", "expires_at"],
                condition=models.Q(public=True), name="keywordposting_public_term",
            ),
        ]
        constraints = [models.UniqueConstraint(fields=["memory", "term_hash"], name="keywordposting_unique_term")]


class ImportJob(models.Model):
    """A background import of an uploaded file (see ``memories.importexport``).

    The upload is kept only encrypted (``payload_encrypted``, Fernet like memory text) and is
    dropped when the job ends. Each row is imported in its own transaction *together with*
    the advance of ``position``, so a crash (even ``kill -9``) never half-writes a row and a
    restart resumes exactly at the next row. ``worker``/``heartbeat_at`` form a lease: a job
    whose worker stopped sending heartbeats can be taken over.
    """

    class Status(models.TextChoices):
        PREVIEW = "preview", "Waiting for confirmation"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_jobs")
    filename = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=16)
    payload_encrypted = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREVIEW)
    total = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)  # rows [0, position) are done
    created_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"row": n, "message": "..."}], capped
    message = models.CharField(max_length=500, blank=True)
    worker = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When its memories were moved to the trash in one step (``import_job_undo``).
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "import job"
        verbose_name_plural = "import jobs"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="importjob_owner_created"),
                   models.Index(fields=["status"], name="importjob_status")]

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.position / self.total)

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
