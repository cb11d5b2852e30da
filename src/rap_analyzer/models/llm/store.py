"""LLM analyses into PostgreSQL `analyses` (analyzer `llm:<model>`, model_version = prompt version).

Failures are stored too, as `{"error": reason, "detail": ..., "raw_reply": ...}`: the table then tells "the
model was asked and failed" apart from "never asked", and a successful analysis is `NOT payload ? 'error'`.
A re-run replaces the row of the same (track, analyzer, prompt version).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from rap_analyzer.models.llm.schema import Analysis
from rap_analyzer.store.tracks import track_ids

ANALYSIS_FIELDS = list(Analysis.model_fields)
RAW_REPLY_MAX_CHARS = 4000  # enough to see why a reply failed, without storing runaway generations whole

_UPSERT = """
INSERT INTO analyses (track_id, analyzer, model_version, payload) VALUES (%s, %s, %s, %s)
ON CONFLICT (track_id, analyzer, model_version) DO UPDATE SET payload = EXCLUDED.payload, created_at = now()
"""


def _value(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays (themes after a parquet round trip)
        return value.tolist()
    return None if isinstance(value, float) and pd.isna(value) else value


def record_payload(row: dict[str, Any]) -> dict[str, Any]:
    if row["ok"]:
        payload = {name: _value(row[name]) for name in ANALYSIS_FIELDS}
    else:
        raw = row.get("raw_reply")
        payload = {"error": row["failure"], "detail": row.get("failure_detail"),
                   "raw_reply": raw[:RAW_REPLY_MAX_CHARS] if isinstance(raw, str) else None}
    payload["meta"] = {"latency_s": _value(row.get("latency_s")), "tokens_in": _value(row.get("tokens_in")),
                       "tokens_out": _value(row.get("tokens_out")), "json_mode": _value(row.get("json_mode"))}
    return payload


def store_analyses(conn: psycopg.Connection, records: pd.DataFrame, analyzer: str, model_version: str) -> int:
    """Upsert one row per record (as returned by `run_llm_eval`); records whose track is not in the database
    are skipped, so the return value (rows written) tells the caller how many were missing."""
    if records.empty:
        return 0
    keys = [str(k) for k in records["source_key"]]
    ids = track_ids(conn, keys)
    rows = [
        (ids[row["source_key"]], analyzer, model_version, Jsonb(record_payload(row)))
        for row in records.to_dict("records")
        if row["source_key"] in ids
    ]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_UPSERT, rows)
    return len(rows)
