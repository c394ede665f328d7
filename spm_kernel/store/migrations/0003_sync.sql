-- 0003: data-source syncs: one row per sync run, and the records a sync quarantined.

CREATE TABLE sync_log (
    sync_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_type VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    since VARCHAR,
    watermark VARCHAR,
    records_read BIGINT NOT NULL,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    counts VARCHAR,
    error VARCHAR,
    PRIMARY KEY (sync_id)
);

CREATE TABLE sync_rejects (
    reject_id VARCHAR NOT NULL,
    sync_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    field VARCHAR,
    value VARCHAR,
    reason VARCHAR NOT NULL,
    record VARCHAR NOT NULL,
    rejected_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    resolved_by VARCHAR,
    PRIMARY KEY (reject_id)
);
