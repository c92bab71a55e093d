-- Schema version 5: stage pointers and gate decisions.

CREATE TABLE stage_pointers (
    model       TEXT NOT NULL,
    env         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (model, env)
);

CREATE TABLE gate_decisions (
    id             BIGINT NOT NULL PRIMARY KEY,
    model          TEXT NOT NULL,
    version        BIGINT NOT NULL,
    env            TEXT NOT NULL,
    allowed        BIGINT NOT NULL,
    -- digest of the gate policy bundle (sources and data) and of the input document
    policy_digest  TEXT NOT NULL,
    input_digest   TEXT NOT NULL,
    -- canonical JSON array of the reasons
    reasons        TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX gate_decisions_model ON gate_decisions (model, version);
