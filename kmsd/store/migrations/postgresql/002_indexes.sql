-- 002_indexes.sql (PostgreSQL) - indexes for the scheduler's once-a-second
-- queries: groups due for rotation, grace epochs due to expire.

CREATE INDEX topic_groups_next_rotation ON topic_groups (next_rotation);
CREATE INDEX epochs_grace_expires ON epochs (expires) WHERE state = 'grace';
