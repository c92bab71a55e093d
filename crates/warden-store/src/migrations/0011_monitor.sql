-- Schema version 11: monitoring of served models.

-- Each closed monitoring window of a served model and its drift result.
CREATE TABLE monitor_windows (
    id                BIGINT NOT NULL PRIMARY KEY,
    model             TEXT NOT NULL,
    version           BIGINT NOT NULL,
    env               TEXT NOT NULL,
    rows_seen         BIGINT NOT NULL,
    dataset_drift     BIGINT NOT NULL,
    prediction_drift  BIGINT NOT NULL,
    drifted_features  BIGINT NOT NULL,
    -- the window's full result (JSON: drift report, OOD share, signals)
    report            TEXT NOT NULL,
    opened_at         TEXT NOT NULL,
    closed_at         TEXT NOT NULL
);

CREATE INDEX monitor_windows_by_model ON monitor_windows (model, id);

-- Models whose automated responses an operator has paused.
CREATE TABLE monitor_pauses (
    model             TEXT NOT NULL PRIMARY KEY,
    reason            TEXT NOT NULL,
    paused_by         TEXT NOT NULL,
    paused_at         TEXT NOT NULL
);

-- API keys blocked or throttled (by a person or by the monitor); removed
-- when lifted.
CREATE TABLE api_key_holds (
    key_id            TEXT NOT NULL PRIMARY KEY,
    -- 'block' or 'throttle'
    kind              TEXT NOT NULL,
    -- requests per second while throttled
    rate_limit        DOUBLE PRECISION,
    reason            TEXT NOT NULL,
    held_by           TEXT NOT NULL,
    held_at           TEXT NOT NULL
);
