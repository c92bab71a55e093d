-- Schema version 1: workspace settings, roles, keys, the audit log.
-- Portable SQL: TEXT and BIGINT only; hashes are lowercase hex.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE role_grants (
    actor      TEXT NOT NULL,
    role       TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    time       TEXT NOT NULL,
    PRIMARY KEY (actor, role)
);

CREATE TABLE keys (
    name       TEXT PRIMARY KEY,
    origin     TEXT NOT NULL CHECK (origin IN ('own', 'trusted')),
    algorithm  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    public_pem TEXT NOT NULL,
    added_by   TEXT NOT NULL,
    added_at   TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT
);

-- One row per audit event. `event` is the canonical JSON that is the
-- Merkle leaf data; the other columns repeat its fields for querying and
-- are checked against it by `warden audit verify`.
CREATE TABLE audit_events (
    seq       BIGINT PRIMARY KEY,
    time      TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    payload   TEXT NOT NULL,
    event     TEXT NOT NULL,
    leaf_hash TEXT NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);

-- The log's size and frontier (right-edge subtree roots, hex, comma-separated).
CREATE TABLE audit_log_state (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    size     BIGINT NOT NULL,
    frontier TEXT NOT NULL
);
INSERT INTO audit_log_state (id, size, frontier) VALUES (1, 0, '');

-- Signed checkpoints (C2SP tlog-checkpoint notes).
CREATE TABLE audit_checkpoints (
    size      BIGINT PRIMARY KEY,
    root_hash TEXT NOT NULL,
    note      TEXT NOT NULL,
    time      TEXT NOT NULL
);
