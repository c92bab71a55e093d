-- Schema version 6: signed approvals and quarantines.

CREATE TABLE approvals (
    id             BIGINT NOT NULL PRIMARY KEY,
    model          TEXT NOT NULL,
    version        BIGINT NOT NULL,
    model_digest   TEXT NOT NULL,
    env            TEXT NOT NULL,
    approver       TEXT NOT NULL,
    key_name       TEXT NOT NULL,
    -- the DSSE envelope (JSON) over the approval statement
    envelope       TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX approvals_model ON approvals (model, version, env);

CREATE TABLE quarantines (
    model          TEXT NOT NULL,
    version        BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    released_by    TEXT,
    released_at    TEXT,
    release_reason TEXT,
    PRIMARY KEY (model, version)
);
