-- Full-text search over the clean lyrics (store/search.py `hybrid`): a song found by its words as well as by its
-- meaning. Stored, so a query never re-parses lyrics; English stemming (the dataset keeps `en` only).
ALTER TABLE tracks ADD COLUMN lyrics_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', lyrics_clean)) STORED;
CREATE INDEX tracks_lyrics_tsv_idx ON tracks USING gin (lyrics_tsv);
