-- 004_keycheck_crl.sql (PostgreSQL) - the KMS's own durable state: the
-- master-key check value and the last CRL issued (see the SQLite twin,
-- schema/004_keycheck_crl.sql).
CREATE TABLE keycheck (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	sealed  BYTEA NOT NULL,
	created BIGINT NOT NULL
);

CREATE TABLE crl (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	number  BIGINT NOT NULL,
	issued  BIGINT NOT NULL,
	revoked BIGINT NOT NULL,
	pem     TEXT NOT NULL
);
