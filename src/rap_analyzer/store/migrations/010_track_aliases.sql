-- One track per song across sources: the records merged into a track (same song from another source or another
-- artist file) are kept here with their source and the rule that merged them (scrape/merge.py).
CREATE TABLE track_aliases (
    source_key    TEXT PRIMARY KEY,
    track_id      BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    source        TEXT NOT NULL,
    artist        TEXT NOT NULL,
    title         TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    rule          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX track_aliases_track_idx ON track_aliases(track_id);

-- The index stage reuses a vector for any track whose clean lyrics hash and model match one already embedded.
CREATE INDEX embeddings_model_hash_idx ON embeddings(model, text_hash);
-- Year filters of semantic search (store/search.py) read the release year of every track, not only the dataset's.
CREATE INDEX tracks_release_year_idx ON tracks((extract(year FROM release_date)::int));
