-- Receipts of erasure requests (GDPR): who asked, what scope, what was deleted. The
-- subject is the blake3 hash of the user id, so a receipt proves an erasure without
-- keeping the id.
CREATE TABLE deletion_receipts (
    receipt_id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    deleted_at TEXT NOT NULL,
    receipt TEXT NOT NULL
);
CREATE INDEX deletion_receipts_by_subject ON deletion_receipts(subject);
