"""Entry point of the `embed` stage: embeddings of every dataset track, to parquet and pgvector."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rap_analyzer.config import Params
from rap_analyzer.models.embeddings import embed_frame, store_embeddings, stored_embeddings
from rap_analyzer.store import services
from rap_analyzer.store.migrate import migrate


def run(params: Params, dataset_dir: Path, out_path: Path, progress: bool = True) -> dict[str, int]:
    frames = [pd.read_parquet(dataset_dir / f"{split}.parquet", columns=["source_key", "lyrics_clean"])
              for split in ("train", "eval")]
    tracks = pd.concat(frames, ignore_index=True).sort_values("source_key", ignore_index=True)
    # Vectors depend on the truncation length too: a new max_seq_length must not reuse the old ones.
    model = f"{params.embed.model}@{params.embed.max_seq_length}"
    with services.connect(params) as conn:
        migrate(conn)
        previous = stored_embeddings(conn, model)
        rows, embedded = embed_frame(tracks, params.embed, previous=previous, progress=progress)
        in_database = store_embeddings(conn, rows, model)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(out_path, index=False)
    summary = {"tracks": len(rows), "embedded_now": embedded, "reused": len(rows) - embedded,
               "in_database": in_database, "missing_from_database": len(rows) - in_database}
    out_path.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
