"""Every endpoint of the running service over HTTP, against oracles computed here without the service: the
champions loaded from the store, features from `extract_features`, cosine similarities in numpy over the
embed stage's parquet, trend aggregates in pandas over the prepare stage's parquet."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata

import httpx
import numpy as np
import pandas as pd
import pytest
import redis
from conftest import API_KEY, RATE_LIMIT, RATE_WINDOW_S, SERVED_TARGETS, Served
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from rap_analyzer.features import FEATURE_NAMES, extract_features
from rap_analyzer.models.predictor import load_champion
from rap_analyzer.scrape.cleaning import clean_text

pytestmark = pytest.mark.slow

LYRICS = ("[Verse 1]\nI got money on my mind, cars and the block\nWe ride all night till the morning clock\n"
          "Cold in the city but the heat in my chest\nNever been the type to settle for less\n")


def expected_predictions(served: Served, texts: list[str]) -> dict[str, np.ndarray]:
    """The champions' own predictions on the cleaned texts (the oracle for /predict and /analyze)."""
    cleaned = [clean_text(unicodedata.normalize("NFC", t))[0] for t in texts]
    return {t: load_champion(t).predictor.predict(cleaned) for t in SERVED_TARGETS}


def error_fields(response: httpx.Response) -> list[str]:
    body = response.json()
    if "field" in body:
        return [body["field"]]
    return [".".join(str(p) for p in item["loc"]) for item in body["detail"]]


def test_openapi_document_is_valid_and_lists_every_endpoint(api: httpx.Client) -> None:
    spec = api.get("/docs.json").json()
    # BentoML 1.4 labels the document 3.0.2 but writes its schemas (its own TaskStatusResponse included) in
    # pydantic 2's JSON Schema 2020-12 ({"type": "null"} in anyOf), which is OpenAPI 3.1's dialect: validated
    # as what it is written in.
    assert spec["openapi"].startswith("3.")
    validate({**spec, "openapi": "3.1.0"}, cls=OpenAPIV31SpecValidator)  # raises on an invalid document
    for path in ("/analyze", "/predict", "/search", "/similar", "/trends", "/health", "/models", "/cache/stats",
                 "/config", "/livez", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    search_body = json.dumps(spec["paths"]["/search"]["post"]["requestBody"])
    assert "year_from" in search_body and "artist" in search_body
    for name in ("AnalyzeRequestIODescriptor", "SearchRequestIODescriptor", "TrendsRequestIODescriptor"):
        assert spec["components"]["schemas"][name]["additionalProperties"] is False


def test_health_models_and_config(served: Served, api: httpx.Client) -> None:
    health = api.get("/health").json()
    assert health["status"] == "ok", health
    assert health["database"]["ok"] and health["redis"]["ok"] and health["models"]["ok"]
    models = api.get("/models").json()
    for target in SERVED_TARGETS:
        champion = load_champion(target)
        assert models[target]["tag"] == champion.tag
        assert models[target]["dataset_hash"] == champion.metadata["dataset_hash"]
    config = api.get("/config")
    assert config.json()["serve"]["max_k"] == served.params.serve.max_k
    assert config.json()["api_key_required"] is True
    assert API_KEY not in config.text


def test_predict_matches_the_champions_and_is_cached_by_normalised_lyrics(served: Served, api: httpx.Client) -> None:
    texts = [LYRICS, "Started from the bottom now we here\nStarted from the bottom now my whole team here\n"]
    oracle = expected_predictions(served, texts)
    stats_before = api.get("/cache/stats").json()
    first = api.post("/predict", json={"lyrics": texts})
    assert first.status_code == 200, first.text
    for i, item in enumerate(first.json()):
        assert item["cached"] is False
        for target, values in oracle.items():
            assert item["predictions"][target] == pytest.approx(values[i], rel=1e-9)
            assert item["models"][target] == load_champion(target).tag
    # Same text after cleaning (headers, blank runs, stray spaces): the same cache entry.
    variant = "[Intro]\n" + LYRICS.replace("\n", "  \n\n\n", 1)
    second = api.post("/predict", json={"lyrics": [variant]}).json()[0]
    assert second["cached"] is True
    assert second["predictions"] == first.json()[0]["predictions"]
    stats = api.get("/cache/stats").json()
    n_targets = len(oracle)
    assert stats["misses"] - stats_before["misses"] == 2 * n_targets
    assert stats["hits"] - stats_before["hits"] == n_targets
    assert stats["keys"] >= 2 * n_targets

    # The cached value is a JSON number under tag + SHA-256 of the cleaned text, with the configured TTL.
    client = redis.Redis.from_url(served.backing.redis.connection_url)
    digest = hashlib.sha256(clean_text(LYRICS)[0].encode()).hexdigest()
    key = f"rap-analyzer:serve:pred:{load_champion('popularity').tag}:{digest}"
    assert json.loads(client.get(key)) == pytest.approx(oracle["popularity"][0], rel=1e-9)
    ttl = client.ttl(key)
    assert served.params.serve.cache_ttl_s - 60 < ttl <= served.params.serve.cache_ttl_s


def test_concurrent_predict_requests_each_get_their_own_answers(served: Served, api: httpx.Client) -> None:
    # Adaptive batching merges concurrent requests into one model call; every request must get back its own rows.
    texts = [f"Line number {i} about the {word} we had\nAnd the {word} we lost in the night\n"
             for i, word in enumerate(["cash", "love", "pain", "fame", "crew", "block", "rhymes", "dreams"])]
    oracle = expected_predictions(served, texts)
    results: dict[int, list[dict]] = {}

    def ask(i: int) -> None:
        with served.client() as client:
            results[i] = client.post("/predict", json={"lyrics": [texts[i], texts[(i + 1) % len(texts)]]}).json()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, answer in results.items():
        for j, item in zip((i, (i + 1) % len(texts)), answer, strict=True):
            assert item["predictions"]["release_year"] == pytest.approx(oracle["release_year"][j], rel=1e-9)


def test_analyze_returns_features_predictions_and_neighbours(served: Served, api: httpx.Client) -> None:
    response = api.post("/analyze", json={"lyrics": LYRICS, "title": "Test", "artist": "Someone", "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["artist"]) == ("Test", "Someone")
    cleaned, sections = clean_text(LYRICS, "Test")
    assert body["cleaned_lyrics"] == cleaned and body["sections"] == sections == ["[Verse 1]"]
    features = extract_features(cleaned, served.params.features)
    assert list(body["features"]) == FEATURE_NAMES
    for name in FEATURE_NAMES:
        assert body["features"][name] == pytest.approx(features[name], rel=1e-12)
    oracle = expected_predictions(served, [LYRICS])
    for target, values in oracle.items():
        assert body["predictions"]["predictions"][target] == pytest.approx(values[0], rel=1e-9)
    scores = [hit["score"] for hit in body["similar"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert body["llm_analysis"] is None and body["unavailable"] == {}


def _embeddings(served: Served) -> pd.DataFrame:
    """The embed stage's vectors with track ids and metadata, for brute-force nearest neighbours."""
    processed = served.params.data_dir / "processed"
    vectors = pd.read_parquet(processed / "embeddings.parquet")
    meta = pd.concat([pd.read_parquet(processed / f"{s}.parquet", columns=["source_key", "artist", "release_year"])
                      for s in ("train", "eval")])
    return vectors.merge(meta, on="source_key")


def _track_ids(served: Served) -> dict[str, int]:
    import psycopg

    with psycopg.connect(served.backing.database_url) as conn:
        return dict(conn.execute("SELECT source_key, id FROM tracks").fetchall())


def _encode(text: str) -> np.ndarray:
    from rap_analyzer.models.embeddings import load_model

    return load_model("all-MiniLM-L6-v2", 256).encode([text], normalize_embeddings=True)[0]


def test_search_with_filters_returns_k_nearest_by_brute_force(served: Served, api: httpx.Client) -> None:
    frame = _embeddings(served)
    ids = _track_ids(served)
    artist = frame["artist"].value_counts().index[-1]  # the artist with the fewest tracks: the most selective
    n_artist = int((frame["artist"] == artist).sum())
    k = min(5, n_artist)
    query = "money cars and the block at night"
    q = _encode(query)

    def brute(rows: pd.DataFrame, k: int) -> list[int]:
        sims = np.stack(rows["embedding"].to_numpy()) @ q
        order = np.argsort(-sims, kind="stable")[:k]
        return [ids[key] for key in rows["source_key"].to_numpy()[order]]

    plain = api.post("/search", json={"query": query, "k": 5}).json()["results"]
    assert [h["track_id"] for h in plain] == brute(frame, 5)
    filtered = api.post("/search", json={"query": query, "k": k, "artist": artist.upper()}).json()["results"]
    assert len(filtered) == k and {h["artist"] for h in filtered} == {artist}
    assert [h["track_id"] for h in filtered] == brute(frame[frame["artist"] == artist], k)
    everything = api.post("/search", json={"query": query, "k": n_artist + 10, "artist": artist}).json()["results"]
    assert len(everything) == n_artist  # fewer than k only when fewer exist

    years = frame["release_year"].dropna()
    lo, hi = int(years.quantile(0.4)), int(years.quantile(0.6))
    in_range = frame[(frame["release_year"] >= lo) & (frame["release_year"] <= hi)]
    ranged = api.post("/search", json={"query": query, "k": 7, "year_from": lo, "year_to": hi}).json()["results"]
    assert [h["track_id"] for h in ranged] == brute(in_range, 7)
    assert all(lo <= h["year"] <= hi for h in ranged)


def test_hybrid_search_finds_a_remembered_line(served: Served, api: httpx.Client) -> None:
    import psycopg

    # A line from the second half of a song (past what its 256-token vector holds), long enough that no other
    # indexed song holds all its words: full-text search ranks that song first, so the fusion keeps it in the top k.
    with psycopg.connect(served.backing.database_url) as conn:
        rows = conn.execute("SELECT t.id, t.lyrics_clean FROM tracks t JOIN embeddings e ON e.track_id = t.id "
                            "ORDER BY t.id").fetchall()
    vocabularies = [set(text.lower().split()) for _, text in rows]
    found: tuple[int, str] | None = None
    for track_id, text in rows:
        lines = [line for line in text.splitlines()[len(text.splitlines()) // 2:] if len(line.split()) >= 8]
        words = set(lines[0].lower().split()) if lines else set()
        if not words or sum(words <= vocabulary for vocabulary in vocabularies) != 1:
            continue
        # a line that meaning alone does not find (most, measured: 80% of known-item queries), so that a search
        # ignoring `mode` fails below
        semantic = api.post("/search", json={"query": lines[0], "k": 5, "mode": "semantic"}).json()["results"]
        if track_id not in [h["track_id"] for h in semantic]:
            found = (track_id, lines[0])
            break
    assert found is not None, "no indexed song has a distinctive line, in its second half, missed by meaning"
    track_id, line = found
    hybrid = api.post("/search", json={"query": line, "k": 5, "mode": "hybrid"}).json()["results"]
    assert track_id in [h["track_id"] for h in hybrid]
    scores = [h["score"] for h in hybrid]
    assert scores == sorted(scores, reverse=True)
    assert api.post("/search", json={"query": line, "mode": "keyword"}).status_code == 400


def test_search_is_parameterised(served: Served, api: httpx.Client) -> None:
    before = len(_track_ids(served))
    for payload in ({"query": "'; DROP TABLE tracks; --", "k": 3}, {"query": "x", "artist": "' OR 1=1 --", "k": 3}):
        response = api.post("/search", json=payload)
        assert response.status_code == 200, response.text
    assert api.post("/search", json={"query": "x", "artist": "' OR 1=1 --"}).json()["results"] == []
    assert len(_track_ids(served)) == before


def test_similar_excludes_the_track_and_refuses_unknown_ids(served: Served, api: httpx.Client) -> None:
    frame = _embeddings(served)
    ids = _track_ids(served)
    key = frame["source_key"].iloc[0]
    q = np.asarray(frame["embedding"].iloc[0])
    others = frame.iloc[1:]
    sims = np.stack(others["embedding"].to_numpy()) @ q
    expected = [ids[k] for k in others["source_key"].to_numpy()[np.argsort(-sims, kind="stable")[:4]]]
    hits = api.post("/similar", json={"track_id": ids[key], "k": 4}).json()["results"]
    assert [h["track_id"] for h in hits] == expected
    missing = api.post("/similar", json={"track_id": max(ids.values()) + 1000, "k": 4})
    assert missing.status_code == 404 and "track_id" in missing.json()["error"]


@pytest.mark.parametrize(("metric", "by"), [("rhyme_density", "year"), ("words_per_song", "decade"),
                                           ("explicitness", "decade"), ("vocabulary_richness", "year")])
def test_trends_equal_pandas_aggregates(served: Served, api: httpx.Client, metric: str, by: str) -> None:
    processed = served.params.data_dir / "processed"
    df = pd.concat([pd.read_parquet(processed / f"{s}.parquet") for s in ("train", "eval")])
    df = df[df["release_year"].notna()]
    column = {"words_per_song": "n_words", "vocabulary_richness": "mattr", "explicitness": "profanity_ratio"}.get(
        metric, metric)
    values = (df[column] > 0).astype(float) if metric == "explicitness" else df[column]
    period = df["release_year"].astype(int) // 10 * 10 if by == "decade" else df["release_year"].astype(int)
    grouped = values.groupby(period).agg(["mean", "size"])
    body = api.post("/trends", json={"metric": metric, "by": by}).json()
    assert [p["period"] for p in body["points"]] == list(grouped.index)
    assert [p["n"] for p in body["points"]] == grouped["size"].tolist()
    assert [p["value"] for p in body["points"]] == pytest.approx(grouped["mean"].tolist(), rel=1e-9)
    artist = df["artist"].iloc[0]
    mine = api.post("/trends", json={"metric": metric, "by": by, "artist": artist}).json()["points"]
    assert sum(p["n"] for p in mine) == int((df["artist"] == artist).sum())


def _bad_inputs(max_chars: int, max_k: int) -> list[tuple[str, dict, str]]:
    return [
        ("/predict", {"lyrics": []}, "lyrics"),
        ("/predict", {"lyrics": ["fine words here", "   "]}, "lyrics.1"),
        ("/predict", {"lyrics": ["x" * (max_chars + 1)]}, "lyrics.0"),
        ("/predict", {"lyrics": "not a list"}, "lyrics"),
        ("/predict", {"lyrics": ["[Chorus]"]}, "lyrics.0"),
        ("/analyze", {"lyrics": ""}, "lyrics"),
        ("/analyze", {"lyrics": LYRICS, "k": max_k + 1}, "k"),
        ("/analyze", {"lyrics": LYRICS, "verbose": True}, "verbose"),
        ("/analyze", {"lyrics": "１２３ ４５６ ７８９"}, "lyrics"),
        ("/search", {"query": "x", "k": 0}, "k"),
        ("/search", {"query": "x", "k": "five"}, "k"),
        ("/search", {"query": "x", "year_from": 2010, "year_to": 2000}, ""),
        ("/similar", {"track_id": 0}, "track_id"),
        ("/trends", {"metric": "swagger"}, "metric"),
        ("/trends", {"metric": "rhyme_density", "by": "century"}, "by"),
    ]


def test_bad_input_is_a_4xx_naming_the_field(served: Served, api: httpx.Client) -> None:
    serve = served.params.serve
    for path, payload, field in _bad_inputs(serve.max_lyrics_chars, serve.max_k):
        response = api.post(path, json=payload)
        assert response.status_code == 400, (path, payload, response.status_code, response.text)
        fields = error_fields(response)
        if field:
            assert field in fields, (path, payload, fields)
        else:  # a rule over two fields names both in its message
            assert "year_from" in response.text and "year_to" in response.text


def test_bounds_are_inclusive(served: Served, api: httpx.Client) -> None:
    serve = served.params.serve
    at_limit = ("money on my mind " * serve.max_lyrics_chars)[: serve.max_lyrics_chars]
    assert api.post("/predict", json={"lyrics": [at_limit]}).status_code == 200
    assert api.post("/search", json={"query": "x", "k": serve.max_k}).status_code == 200
    assert api.post("/search", json={"query": "x", "k": 1}).status_code == 200


def test_api_key_is_required_except_for_health_and_metrics(served: Served) -> None:
    with served.client(key=None) as anonymous, served.client(key="wrong-key") as wrong:
        for client in (anonymous, wrong):
            response = client.post("/predict", json={"lyrics": [LYRICS]})
            assert response.status_code == 401 and "X-API-Key" in response.json()["error"]
            assert client.get("/models").status_code == 401
            assert client.get("/health").status_code == 200
            assert client.get("/metrics").status_code == 200
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {API_KEY}"}) as bearer:
        assert bearer.get("/models").status_code == 200


def test_rate_limit_allows_exactly_the_limit_then_429_with_retry_after(served: Served, api: httpx.Client) -> None:
    # Concurrent requests from one client address (its own budget) over both workers: the moving window lives in
    # Redis and is counted atomically, so exactly RATE_LIMIT get through whatever the interleaving.
    extra, n_threads = 20, 16
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def hammer(count: int) -> None:
        with served.client(source="127.0.0.2", timeout=30) as other:
            for _ in range(count):
                response = other.get("/config")
                with lock:
                    answers.append(response)

    total = RATE_LIMIT + extra
    threads = [threading.Thread(target=hammer, args=(total // n_threads + (i < total % n_threads),))
               for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [r.status_code for r in answers]
    assert len(codes) == total
    assert codes.count(200) == RATE_LIMIT and codes.count(429) == extra
    for refused in (r for r in answers if r.status_code == 429):
        assert 1 <= int(refused.headers["Retry-After"]) <= RATE_WINDOW_S
        assert "rate limit" in refused.json()["error"]
    assert api.get("/config").status_code == 200  # other clients are unaffected


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_every_worker(served: Served, api: httpx.Client) -> None:
    tag = load_champion("popularity").tag
    before = api.get("/metrics").text
    n = 24
    texts = [f"metrics check {i}: the beat goes on and on\nwe never stop the show\n" for i in range(n)]

    def ask(i: int) -> None:
        with served.client() as client:
            assert client.post("/predict", json={"lyrics": [texts[i]]}).status_code == 200

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    api.post("/search", json={"query": "metrics", "k": 2})
    after = api.get("/metrics").text
    assert (_metric(after, "rap_analyzer_predictions_total", model=tag)
            - _metric(before, "rap_analyzer_predictions_total", model=tag)) == n
    assert (_metric(after, "rap_analyzer_cache_misses_total", target="popularity")
            - _metric(before, "rap_analyzer_cache_misses_total", target="popularity")) == n
    assert _metric(after, "rap_analyzer_search_latency_seconds_count", endpoint="search") >= 1
    # BentoML labels some of its series by process: both workers served and both are in the one answer.
    pids = set(re.findall(r'bentoml_service_last_request_timestamp_seconds\{pid="(\d+)"', after))
    assert len(pids) == served.params.serve.workers


def test_no_secret_in_the_server_log(served: Served) -> None:
    assert API_KEY not in served.log.read_text()
