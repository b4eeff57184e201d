-- 003_rekeys.sql (PostgreSQL) - why each epoch became current, and the
-- revocations that forced a group to rekey (shown by GET /v1/groups/{name}).

-- 'created' (epoch 1 of a new group), 'scheduled', 'manual' or 'revocation';
-- NULL for epochs made before this migration and for next/void epochs.
ALTER TABLE epochs ADD COLUMN cause TEXT;

-- One row per (group, revoked client): the group moved to `epoch`, a fresh
-- epoch the revoked client never held.
CREATE TABLE rekeys (
	group_id BIGINT NOT NULL REFERENCES topic_groups (id),
	epoch    BIGINT NOT NULL CHECK (epoch > 0),
	client   TEXT COLLATE "C" NOT NULL,
	reason   TEXT,
	at       BIGINT NOT NULL
);
CREATE INDEX rekeys_group ON rekeys (group_id, at);
