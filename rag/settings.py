"""One typed settings object, built from defaults, ``RAG_*`` environment variables and flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rag.errors import InputError

BUNDLED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@dataclass(frozen=True)
class Settings:
    """Everything a run can be told. Each field's ``env`` metadata names its variable."""

    corpus_dir: Path = field(
        default=BUNDLED_CORPUS,
        metadata={"env": "RAG_CORPUS_DIR", "help": "folder of documents to index"},
    )
    index_dir: Path = field(
        default=Path(".rag/index"),
        metadata={"env": "RAG_INDEX_DIR", "help": "folder holding the local index"},
    )
    top_k: int = field(
        default=5, metadata={"env": "RAG_TOP_K", "help": "passages retrieved per question"}
    )
    chroma_url: str | None = field(
        default=None,
        metadata={
            "env": "RAG_CHROMA_URL",
            "help": "use a Chroma server, e.g. http://127.0.0.1:8000",
        },
    )
    collection: str = field(
        default="rag", metadata={"env": "RAG_COLLECTION", "help": "name prefix of the collections"}
    )
    batch_size: int = field(
        default=64, metadata={"env": "RAG_BATCH_SIZE", "help": "texts per embedding batch"}
    )
    device: str = field(
        default="cpu", metadata={"env": "RAG_DEVICE", "help": "torch device for the model"}
    )
    chunk_tokens: int = field(
        default=200, metadata={"env": "RAG_CHUNK_TOKENS", "help": "chunk size in model tokens"}
    )
    chunk_overlap: int = field(
        default=40, metadata={"env": "RAG_CHUNK_OVERLAP", "help": "chunk overlap in model tokens"}
    )
    max_question_chars: int = field(
        default=2000,
        metadata={"env": "RAG_MAX_QUESTION_CHARS", "help": "longest question accepted"},
    )
    max_upload_files: int = field(
        default=20,
        metadata={"env": "RAG_MAX_UPLOAD_FILES", "help": "files accepted in one web upload"},
    )
    reader: str = field(
        # the learned reader: above the rules on XQuAD, where neither was fitted (README, "Eval")
        default="learned",
        metadata={
            "env": "RAG_READER",
            "help": "what picks the answer: learned (default: weights fitted on SQuAD-shifts and "
            "a cross-encoder) or rules (the hand-set scorer)",
        },
    )
    max_file_bytes: int = field(
        default=20_000_000,
        metadata={"env": "RAG_MAX_FILE_BYTES", "help": "largest document file indexed"},
    )

    def __post_init__(self) -> None:
        # errors name the bad value, so a user sees which setting to fix
        if self.top_k < 1:
            raise InputError(f"top_k must be at least 1. Currently, top_k is {self.top_k}.")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be at least 1. Currently, it is {self.batch_size}.")
        if not 16 <= self.chunk_tokens <= 256:
            raise InputError(
                f"chunk_tokens must be between 16 and 256 (the model reads at most 256 word "
                f"pieces). Currently, it is {self.chunk_tokens}."
            )
        if not 0 <= self.chunk_overlap < self.chunk_tokens:
            raise InputError(
                f"chunk_overlap must be at least 0 and below chunk_tokens ({self.chunk_tokens}). "
                f"Currently, it is {self.chunk_overlap}."
            )
        if self.reader not in ("learned", "rules"):
            raise InputError(
                f"reader must be 'learned' or 'rules'. Currently, it is {self.reader!r}."
            )
        if self.max_question_chars < 1:
            raise InputError("max_question_chars must be at least 1.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``RAG_*`` variables, then ``overrides`` (flags; ``None`` means unset).

        >>> Settings.from_env({"RAG_TOP_K": "3"}, top_k=None).top_k
        3
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata.get("env")
            raw = overrides.get(f.name)
            if raw is None and name and env.get(name, "").strip():
                raw = env[name].strip()
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw, name)
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _coerce(name: str, typ: Any, raw: Any, env_name: str | None) -> Any:
    where = f"{env_name} / --{name.replace('_', '-')}" if env_name else name
    typ = str(typ)
    try:
        if "int" in typ:
            return int(raw)
        if "Path" in typ:
            return Path(raw).expanduser()
    except ValueError:
        raise InputError(f"{where} must be a whole number. Currently, it is {raw!r}.") from None
    return str(raw)
