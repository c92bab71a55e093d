-- Schema version 2: dataset versions.

CREATE TABLE datasets (
    name             TEXT NOT NULL,
    version          BIGINT NOT NULL,
    -- digest of the DatasetVersion manifest (canonical JSON, also a blob)
    digest           TEXT NOT NULL,
    source_digest    TEXT NOT NULL,
    output_digest    TEXT NOT NULL,
    rows             BIGINT NOT NULL,
    report_digest    TEXT NOT NULL,
    report_md_digest TEXT NOT NULL,
    manifest         TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
