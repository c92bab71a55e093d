-- Schema version 13: personal access tokens for the hub. A token acts as
-- its owner with at most the roles it was scoped to (and never more than
-- the owner holds when it is used); only a keyed hash of it is kept.

CREATE TABLE access_tokens (
    -- the public part of the token (`wdp_<id>_<secret>`), hex
    id                TEXT NOT NULL PRIMARY KEY,
    name              TEXT NOT NULL,
    owner             TEXT NOT NULL,
    -- the roles the token is scoped to, space-separated
    roles             TEXT NOT NULL,
    -- HMAC-SHA256 of the whole token under the workspace's API-key secret, hex
    token_hash        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    revoked_by        TEXT,
    revoked_at        TEXT,
    -- when the token last opened a call (coarse: at most once a minute)
    last_used_at      TEXT,
    UNIQUE (owner, name)
);
