-- 001_initial.sql - the mqe2e KMS database, first version.
--
-- Applied by mqe2e-kmsd inside one transaction; PRAGMA user_version records
-- the number of the last migration applied.  Times are Unix seconds (UTC).
-- Group keys are stored sealed under the master key (DIR/master.key, never
-- in this database): nonce(12) || ciphertext(32) || tag(16), AAD binding the
-- group name, the epoch and the key kind.  Key columns are set to NULL when
-- an epoch expires or is voided (secure_delete is on).

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('policy_version', 1);
INSERT INTO meta (key, value) VALUES ('crl_number', 0);

CREATE TABLE clients (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	kind          TEXT NOT NULL CHECK (kind IN ('client', 'broker')),
	created       INTEGER NOT NULL,
	revoked_at    INTEGER,
	revoke_reason TEXT
);

CREATE TABLE certs (
	id            INTEGER PRIMARY KEY,
	serial        TEXT NOT NULL UNIQUE,
	client_id     INTEGER NOT NULL REFERENCES clients (id),
	cert_pem      TEXT NOT NULL,
	not_before    INTEGER NOT NULL,
	not_after     INTEGER NOT NULL,
	created       INTEGER NOT NULL,
	revoked_at    INTEGER,
	revoke_reason TEXT
);
CREATE INDEX certs_client ON certs (client_id);

CREATE TABLE topic_groups (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	filter        TEXT NOT NULL,
	scheme        INTEGER NOT NULL CHECK (scheme BETWEEN 1 AND 4),
	rotate_s      INTEGER NOT NULL CHECK (rotate_s > 0),
	grace_s       INTEGER NOT NULL CHECK (grace_s >= 0),
	created       INTEGER NOT NULL,
	next_rotation INTEGER NOT NULL
);

CREATE TABLE epochs (
	group_id  INTEGER NOT NULL REFERENCES topic_groups (id),
	epoch     INTEGER NOT NULL CHECK (epoch > 0),
	state     TEXT NOT NULL
	          CHECK (state IN ('next', 'current', 'grace', 'expired', 'void')),
	created   INTEGER NOT NULL,
	activated INTEGER,
	expires   INTEGER,
	gk_p      BLOB,
	gk_b      BLOB,
	UNIQUE (group_id, epoch)
);
-- At most one current and one next epoch per group.
CREATE UNIQUE INDEX epochs_one_current ON epochs (group_id) WHERE state = 'current';
CREATE UNIQUE INDEX epochs_one_next ON epochs (group_id) WHERE state = 'next';

CREATE TABLE grants (
	client_id INTEGER NOT NULL REFERENCES clients (id),
	group_id  INTEGER NOT NULL REFERENCES topic_groups (id),
	right     TEXT NOT NULL CHECK (right IN ('pub', 'sub')),
	created   INTEGER NOT NULL,
	PRIMARY KEY (client_id, group_id, right)
) WITHOUT ROWID;
CREATE INDEX grants_group ON grants (group_id);
