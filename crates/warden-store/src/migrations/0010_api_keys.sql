-- Schema version 10: API keys for the serving endpoints.

CREATE TABLE api_keys (
    -- the public part of the key (`wdn_<id>_<secret>`), hex
    id                TEXT NOT NULL PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    role              TEXT NOT NULL,
    -- HMAC-SHA256 of the whole key under the workspace's API-key secret, hex
    key_hash          TEXT NOT NULL,
    -- requests per second allowed to this key (NULL: the role's default)
    rate_limit        DOUBLE PRECISION,
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    expires_at        TEXT,
    revoked_by        TEXT,
    revoked_at        TEXT
);
