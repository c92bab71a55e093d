-- Schema version 15: events found by their subject. Registering a version
-- asks whether the log already registered that subject; without this
-- index the question read every registration event.

CREATE INDEX audit_events_subject ON audit_events (subject, seq);
