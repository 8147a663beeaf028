"""Keep Hugging Face libraries offline: every model ships on disk and the machine has no internet."""

from __future__ import annotations

import os


def stay_offline() -> None:
    """Set (unless the user set them) the variables that stop hub lookups and tokenizer forks."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
