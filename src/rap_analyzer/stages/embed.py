"""Entry point of the `embed` stage: the embedding of every dataset track, from pgvector (through the index
stage's code path, `models.embeddings.sync_embeddings`) to parquet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rap_analyzer.config import Params
from rap_analyzer.models.embeddings import embed_texts, model_key, stored_vectors, sync_embeddings
from rap_analyzer.store import services
from rap_analyzer.store.migrate import migrate
from rap_analyzer.store.records import text_hash


def run(params: Params, dataset_dir: Path, out_path: Path, progress: bool = True) -> dict[str, int]:
    """Reads `dataset_dir/{train,eval}.parquet` (source_key, lyrics_clean); embeds the texts pgvector does not hold
    yet for `embed.model` (vectors the index stage stored are reused); writes `out_path` (source_key, text_hash,
    embedding: 384 floats, rows ordered by source_key) and `out_path.with_suffix('.json')` (counts)."""
    frames = [pd.read_parquet(dataset_dir / f"{split}.parquet", columns=["source_key", "lyrics_clean"])
              for split in ("train", "eval")]
    tracks = pd.concat(frames, ignore_index=True).sort_values("source_key", ignore_index=True)
    with services.connect(params) as conn:
        migrate(conn)
        summary = sync_embeddings(conn, tracks, params.embed, batch_size=params.embed.batch_size,
                                  model_dir=params.data_dir / "models", progress=progress)
        vectors = stored_vectors(conn, list(tracks["source_key"]), model_key(params.embed))
    # A dataset track the database does not hold (a database reset after prepare) is embedded here, not stored.
    absent = [i for i, key in enumerate(tracks["source_key"]) if key not in vectors]
    if absent:
        fresh = embed_texts([tracks["lyrics_clean"].iloc[i] for i in absent], params.embed, progress=progress,
                            model_dir=params.data_dir / "models")
        vectors.update(zip(tracks["source_key"].iloc[absent], fresh, strict=True))
    rows = pd.DataFrame({
        "source_key": tracks["source_key"].to_numpy(),
        "text_hash": tracks["lyrics_clean"].map(text_hash).to_numpy(),
        "embedding": [np.asarray(vectors[k], dtype=np.float32).tolist() for k in tracks["source_key"]],
    })
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(out_path, index=False)
    result = {"tracks": len(rows), "embedded_now": summary.embedded + len(absent),
              "reused": len(rows) - summary.embedded - len(absent), "in_database": len(rows) - len(absent),
              "missing_from_database": len(absent)}
    out_path.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    return result
