-- Schema version 14: pipeline runs and evidence from other tools.

-- One run of a pipeline file: its stages, their results and durations, as a
-- canonical JSON document (the `pipeline.run` event carries its digest).
CREATE TABLE pipeline_runs (
    id                BIGINT NOT NULL PRIMARY KEY,
    pipeline          TEXT NOT NULL,
    -- "succeeded", "denied" (a gate said no) or "failed"
    status            TEXT NOT NULL,
    document          TEXT NOT NULL,
    digest            TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    finished_at       TEXT NOT NULL,
    created_by        TEXT NOT NULL
);

CREATE INDEX pipeline_runs_by_name ON pipeline_runs (pipeline, id);

-- A report of another tool (SARIF: SAST, SCA, container scanners) bound to
-- a model version. The report itself is a blob; `summary` is the canonical
-- JSON of the findings the gate reads.
CREATE TABLE evidence (
    id                BIGINT NOT NULL PRIMARY KEY,
    model             TEXT NOT NULL,
    version           BIGINT NOT NULL,
    tool              TEXT NOT NULL,
    -- "sast", "sca", "container", "dockerfile" or "other"
    kind              TEXT NOT NULL,
    report_digest     TEXT NOT NULL,
    summary           TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL
);

CREATE INDEX evidence_by_model ON evidence (model, version, id);
