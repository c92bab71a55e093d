-- Schema version 3: model versions (packages in the blob store).

CREATE TABLE models (
    name             TEXT NOT NULL,
    version          BIGINT NOT NULL,
    -- "sha256:" + the OpenSSF model-signing root digest over the package's files
    digest           TEXT NOT NULL,
    -- how the model was made: logreg, mlp, onnx
    kind             TEXT NOT NULL,
    -- canonical JSON: package-relative path -> blob digest
    files            TEXT NOT NULL,
    -- the OpenSSF model-signing bundle (a blob) and the key that made it
    signature_digest TEXT NOT NULL,
    signed_by        TEXT NOT NULL,
    -- the package manifest's bytes (also the manifest.json blob)
    manifest         TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
