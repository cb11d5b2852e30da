-- The features of every track in the current dataset, written by the prepare stage; the service's /trends
-- aggregates them. release_year is the dataset's label (impossible dates already NULL), not the raw date.
CREATE TABLE track_features (
    track_id         BIGINT PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    dataset_hash     TEXT NOT NULL,
    feature_version  TEXT NOT NULL,
    release_year     INTEGER,
    features         JSONB NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX track_features_year_idx ON track_features(release_year);
