-- 006_policy_log.sql - the change log behind broker policy deltas (issue
-- 12): every change to the rows the broker policy is made of (groups and
-- their current epoch, grants, revoked clients and certificates) leaves a
-- (kind, name) row, written by the triggers below so that no code path can
-- forget one; the policy bump that ends the transaction stamps the rows
-- with its version and time.  POST /v1/policy/watch?delta=1 answers what
-- changed since the broker's version from these rows (docs/API.md); rows
-- older than the newest 1000 versions are pruned (then a broker that far
-- behind gets a full snapshot).

CREATE TABLE policy_log (
	seq     INTEGER PRIMARY KEY,
	version INTEGER,                 -- NULL until the transaction's bump
	at      INTEGER,                 -- Unix time of that bump
	kind    TEXT NOT NULL CHECK (kind IN ('group', 'client', 'serial')),
	name    TEXT NOT NULL
);
CREATE INDEX policy_log_version ON policy_log (version);
-- deltas answer "since" versions from here on
INSERT INTO meta (key, value) SELECT 'policy_log_floor', value FROM meta
	WHERE key = 'policy_version';

CREATE TRIGGER policy_log_group_add AFTER INSERT ON topic_groups BEGIN
	INSERT INTO policy_log (kind, name) VALUES ('group', NEW.name);
END;
CREATE TRIGGER policy_log_group_change AFTER UPDATE ON topic_groups BEGIN
	INSERT INTO policy_log (kind, name) VALUES ('group', NEW.name);
END;
CREATE TRIGGER policy_log_group_delete AFTER DELETE ON topic_groups BEGIN
	INSERT INTO policy_log (kind, name) VALUES ('group', OLD.name);
END;
-- the current epoch and the oldest grace epoch are in the group's entry
CREATE TRIGGER policy_log_epoch_add AFTER INSERT ON epochs
	WHEN NEW.state = 'current' BEGIN
	INSERT INTO policy_log (kind, name)
		SELECT 'group', name FROM topic_groups WHERE id = NEW.group_id;
END;
CREATE TRIGGER policy_log_epoch_change AFTER UPDATE OF state ON epochs
	WHEN OLD.state IN ('current', 'grace') OR NEW.state = 'current' BEGIN
	INSERT INTO policy_log (kind, name)
		SELECT 'group', name FROM topic_groups WHERE id = NEW.group_id;
END;
CREATE TRIGGER policy_log_grant_add AFTER INSERT ON grants BEGIN
	INSERT INTO policy_log (kind, name)
		SELECT 'client', name FROM clients WHERE id = NEW.client_id;
END;
CREATE TRIGGER policy_log_grant_delete AFTER DELETE ON grants BEGIN
	INSERT INTO policy_log (kind, name)
		SELECT 'client', name FROM clients WHERE id = OLD.client_id;
END;
CREATE TRIGGER policy_log_client_revoke AFTER UPDATE OF revoked_at ON clients BEGIN
	INSERT INTO policy_log (kind, name) VALUES ('client', NEW.name);
END;
CREATE TRIGGER policy_log_cert_revoke AFTER UPDATE OF revoked_at ON certs BEGIN
	INSERT INTO policy_log (kind, name) VALUES ('serial', NEW.serial);
END;
