-- Tracks scraped from Genius dumps, the catalog or the live API, with their enrichments and analyses.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE artists (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    genius_id   BIGINT UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tracks (
    id                BIGSERIAL PRIMARY KEY,
    source_key        TEXT NOT NULL UNIQUE,
    genius_id         BIGINT UNIQUE,
    artist_id         BIGINT NOT NULL REFERENCES artists(id),
    title             TEXT NOT NULL,
    featured_artists  TEXT[] NOT NULL DEFAULT '{}',
    producer_artists  TEXT[] NOT NULL DEFAULT '{}',
    writer_artists    TEXT[] NOT NULL DEFAULT '{}',
    album             TEXT,
    release_date      DATE,
    release_date_raw  TEXT,
    lyrics_raw        TEXT NOT NULL,
    lyrics_clean      TEXT NOT NULL,
    sections          TEXT[] NOT NULL DEFAULT '{}',
    url               TEXT,
    pageviews         BIGINT,
    annotation_count  INTEGER,
    pyongs_count      INTEGER,
    language          TEXT,
    source            TEXT NOT NULL,
    content_hash      TEXT NOT NULL,
    scraped_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tracks_artist_idx ON tracks(artist_id);
CREATE INDEX tracks_content_hash_idx ON tracks(content_hash);

CREATE TABLE spotify_matches (
    track_id                BIGINT PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    matched                 BOOLEAN NOT NULL,
    score                   REAL NOT NULL,
    spotify_id              TEXT,
    name                    TEXT,
    artists                 TEXT[],
    popularity              INTEGER,
    album                   TEXT,
    release_date            TEXT,
    audio_features          JSONB,
    audio_features_status   TEXT NOT NULL DEFAULT 'not_requested',
    matched_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE analyses (
    id             BIGSERIAL PRIMARY KEY,
    track_id       BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    analyzer       TEXT NOT NULL,
    model_version  TEXT NOT NULL,
    payload        JSONB NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (track_id, analyzer, model_version)
);

CREATE TABLE embeddings (
    track_id    BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    model       TEXT NOT NULL,
    text_hash   TEXT NOT NULL,
    embedding   vector(384) NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (track_id, model)
);
CREATE INDEX embeddings_hnsw_idx ON embeddings USING hnsw (embedding vector_cosine_ops);

CREATE TABLE dataset_versions (
    id            BIGSERIAL PRIMARY KEY,
    dataset_hash  TEXT NOT NULL UNIQUE,
    info          JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One random id per database, so caches kept elsewhere (Redis) can tell which database they describe.
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('instance_id', gen_random_uuid()::text);
