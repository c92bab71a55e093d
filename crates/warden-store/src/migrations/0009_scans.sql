-- Schema version 9: recorded scans (model files and secrets).

CREATE TABLE scans (
    id                BIGINT NOT NULL PRIMARY KEY,
    -- the model version the scan covers (NULL for scans of paths)
    model             TEXT,
    version           BIGINT,
    target            TEXT NOT NULL,
    profile           TEXT NOT NULL,
    max_severity      TEXT NOT NULL,
    findings          BIGINT NOT NULL,
    files             BIGINT NOT NULL,
    -- files that were unscanned or could not be read
    incomplete        BIGINT NOT NULL,
    -- the full report (canonical JSON), as a blob
    report_digest     TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL
);

CREATE INDEX scans_by_model ON scans (model, version, id);
