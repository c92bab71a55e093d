-- Schema version 8: incidents.

CREATE TABLE incidents (
    id                BIGINT NOT NULL PRIMARY KEY,
    model             TEXT NOT NULL,
    version           BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    summary           TEXT NOT NULL,
    -- the incident report (canonical JSON) and its Markdown, as blobs
    report_digest     TEXT NOT NULL,
    markdown_digest   TEXT NOT NULL,
    opened_by         TEXT NOT NULL,
    opened_at         TEXT NOT NULL,
    closed_by         TEXT,
    closed_at         TEXT,
    resolution        TEXT
);
