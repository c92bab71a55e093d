-- Schema version 7: model cards attached to model versions.

CREATE TABLE model_cards (
    model       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    -- the card's blob digest
    digest      TEXT NOT NULL,
    -- canonical JSON array of the sections still to write
    missing     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (model, version)
);
