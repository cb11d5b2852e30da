"""On-disk cache of per-track features: one parquet file per (feature code, params), rows keyed by sha1 of the
exact lyrics text. Changing a definition (the package's source or FEATURE_VERSION), the pronouncing dictionary's
version or a param starts a new file, so a cache can never serve features the current code would not compute."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pandas as pd

from rap_analyzer.config import FeaturesParams
from rap_analyzer.features.extract import FEATURE_NAMES, FEATURE_VERSION

KEY = "text_sha1"


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha1 of this package's and the text normaliser's source files (tokens go through `rap_analyzer.text`), and
    the versions of the dictionary and transliteration packages."""
    digest = hashlib.sha1(f"{metadata.version('pronouncing')}|{metadata.version('anyascii')}".encode())
    here = Path(__file__).parent
    for path in [*sorted(here.glob("*.py")), *sorted((here.parent / "text").glob("*.py"))]:
        digest.update(f"{path.parent.name}/{path.name}".encode() + path.read_bytes())
    return digest.hexdigest()


def cache_file(cache_dir: Path, params: FeaturesParams) -> Path:
    # Feature names are in the key too: a renamed or added column must not be served from an old file.
    spec = f"{FEATURE_VERSION}|{code_fingerprint()}|{params.model_dump_json()}|{','.join(FEATURE_NAMES)}"
    digest = hashlib.sha1(spec.encode()).hexdigest()[:12]
    return Path(cache_dir) / f"features-v{FEATURE_VERSION}-{digest}.parquet"


def load_cache(path: Path) -> dict[str, dict[str, float]]:
    if not path.exists():
        return {}
    frame = pd.read_parquet(path)
    missing = [c for c in [KEY, *FEATURE_NAMES] if c not in frame.columns]
    if missing:
        raise ValueError(f"feature cache {path} lacks columns {missing}; delete the file to rebuild it")
    return {row[KEY]: {n: float(row[n]) for n in FEATURE_NAMES} for row in frame.to_dict("records")}


def save_cache(path: Path, rows: dict[str, dict[str, float]]) -> None:
    """Write all rows atomically, so an interrupted run never leaves a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=FEATURE_NAMES)
    frame = frame.rename_axis(KEY).reset_index()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
