-- Schema version 12: keys belong to people. Each key has an owner (the
-- principal whose key it is) and a purpose (approval, pipeline, log,
-- release); an approval key counts once an admin other than its owner has
-- acknowledged it. Keys recorded before this version have neither and are
-- never approval keys.

ALTER TABLE keys ADD COLUMN owner TEXT;
ALTER TABLE keys ADD COLUMN purpose TEXT;
ALTER TABLE keys ADD COLUMN acknowledged_by TEXT;
ALTER TABLE keys ADD COLUMN acknowledged_at TEXT;
