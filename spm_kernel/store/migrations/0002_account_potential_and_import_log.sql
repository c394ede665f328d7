-- 0002: account potential (for quota planning and headroom) and a log of every import.

ALTER TABLE accounts ADD COLUMN potential DECIMAL(18,2);
ALTER TABLE accounts ADD COLUMN currency VARCHAR;

CREATE TABLE import_log (
    import_id VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    rows_read BIGINT NOT NULL,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    content_hash VARCHAR NOT NULL,
    PRIMARY KEY (import_id)
);
