-- Schema version 4: evaluations of model versions on dataset versions.

CREATE TABLE evaluations (
    id               BIGINT NOT NULL PRIMARY KEY,
    model            TEXT NOT NULL,
    model_version    BIGINT NOT NULL,
    -- the model's digest when it was evaluated
    model_digest     TEXT NOT NULL,
    dataset          TEXT NOT NULL,
    dataset_version  BIGINT NOT NULL,
    -- digest of the evaluation report (canonical JSON, a blob)
    digest           TEXT NOT NULL,
    markdown_digest  TEXT NOT NULL,
    -- the report's canonical JSON
    report           TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX evaluations_model ON evaluations (model, model_version);
