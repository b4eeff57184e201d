-- 005_future_epochs.sql (PostgreSQL) - per-group number of epochs
-- pre-issued ahead of the current one (see the SQLite twin): a group keeps
-- exactly future_epochs epochs in state 'next' (0 to 16; 1 is the behaviour
-- before this migration).

ALTER TABLE topic_groups ADD COLUMN future_epochs INTEGER NOT NULL DEFAULT 1
	CHECK (future_epochs BETWEEN 0 AND 16);

-- Several 'next' epochs per group now; they are used in epoch order.
DROP INDEX epochs_one_next;
CREATE INDEX epochs_group_state ON epochs (group_id, state, epoch);
