-- 006_policy_log.sql (PostgreSQL) - the change log behind broker policy
-- deltas (see the SQLite twin): the triggers leave a (kind, name) row for
-- every change to the rows the broker policy is made of; the policy bump
-- stamps them with its version and time.

CREATE TABLE policy_log (
	seq     BIGSERIAL PRIMARY KEY,
	version BIGINT,
	at      BIGINT,
	kind    TEXT COLLATE "C" NOT NULL CHECK (kind IN ('group', 'client', 'serial')),
	name    TEXT COLLATE "C" NOT NULL
);
CREATE INDEX policy_log_version ON policy_log (version);
INSERT INTO meta (key, value) SELECT 'policy_log_floor', value FROM meta
	WHERE key = 'policy_version';

CREATE FUNCTION policy_log_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO policy_log (kind, name) VALUES ('group', OLD.name);
	ELSE
		INSERT INTO policy_log (kind, name) VALUES ('group', NEW.name);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER policy_log_group AFTER INSERT OR UPDATE OR DELETE ON topic_groups
	FOR EACH ROW EXECUTE FUNCTION policy_log_group();

CREATE FUNCTION policy_log_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (TG_OP = 'INSERT' AND NEW.state = 'current') OR (TG_OP = 'UPDATE' AND
	    NEW.state IS DISTINCT FROM OLD.state AND
	    (OLD.state IN ('current', 'grace') OR NEW.state = 'current')) THEN
		INSERT INTO policy_log (kind, name)
			SELECT 'group', name FROM topic_groups WHERE id = NEW.group_id;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER policy_log_epoch AFTER INSERT OR UPDATE ON epochs
	FOR EACH ROW EXECUTE FUNCTION policy_log_epoch();

CREATE FUNCTION policy_log_grant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO policy_log (kind, name)
			SELECT 'client', name FROM clients WHERE id = OLD.client_id;
	ELSE
		INSERT INTO policy_log (kind, name)
			SELECT 'client', name FROM clients WHERE id = NEW.client_id;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER policy_log_grant AFTER INSERT OR DELETE ON grants
	FOR EACH ROW EXECUTE FUNCTION policy_log_grant();

CREATE FUNCTION policy_log_client() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
		INSERT INTO policy_log (kind, name) VALUES ('client', NEW.name);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER policy_log_client AFTER UPDATE ON clients
	FOR EACH ROW EXECUTE FUNCTION policy_log_client();

CREATE FUNCTION policy_log_cert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
		INSERT INTO policy_log (kind, name) VALUES ('serial', NEW.serial);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER policy_log_cert AFTER UPDATE ON certs
	FOR EACH ROW EXECUTE FUNCTION policy_log_cert();
