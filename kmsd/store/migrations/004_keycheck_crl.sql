-- 004_keycheck_crl.sql - the KMS's own durable state: the master-key check
-- value and the last CRL issued.
--
-- keycheck: a random value sealed under the master key (same layout as a
-- group key, its own AAD).  mqe2e-kmsd opens it at every start and refuses to
-- run with a master.key that does not open it.  Databases from before this
-- migration get it at the first start whose master key opens a stored group
-- key (or that has no group key yet).
CREATE TABLE keycheck (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	sealed  BLOB NOT NULL,
	created INTEGER NOT NULL
);

-- crl: the CRL last issued (PEM), its number and time, and how many revoked
-- certificates it lists.  A restart serves it as it is (start-up writes
-- nothing); the scheduler re-issues it when it is older than a day or when
-- the revoked certificates in the database outnumber the ones it lists.
CREATE TABLE crl (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	number  INTEGER NOT NULL,
	issued  INTEGER NOT NULL,
	revoked INTEGER NOT NULL,
	pem     TEXT NOT NULL
);
