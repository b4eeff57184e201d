/*
 * test_internals.c - unit tests of the KMS modules below the REST layer:
 * the keystore (sealing under the master key, AAD binding), the CA
 * (issuance from CSRs and generated keys, CRLs accepted by core's trust
 * store), the database (migrations, reopen, refusing newer or corrupt
 * files) and the cursor/time helpers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca.h"
#include "check.h"
/* it opens the file with a raw connection of its own, whose statements it
 * finalises itself */
#define KMS_DB_INTERNAL 1
#include "db.h"
#include "files.h"
#include "jsonutil.h"
#include "keystore.h"
#include "wire.h"

static char dir[64];

static void
path(char *out, size_t len, const char *name)
{
	if (kms_path(out, len, dir, name) != MQE2E_OK)
		abort();
}

static void
test_keystore(void)
{
	struct kms_keystore *ks = NULL, *ks2 = NULL;
	uint8_t sealed[KMS_SEALED_LEN], k1[MQE2E_KEY_LEN], k2[MQE2E_KEY_LEN];
	char p[256], err[512];
	struct stat st;

	path(p, sizeof(p), "master.key");
	CHECK(kms_keystore_open(p, 0, &ks, err, sizeof(err)) == MQE2E_ERR_IO);   /* missing */
	CHECK(strstr(err, "master.key") != NULL);
	CHECK(kms_keystore_open(p, 1, &ks, err, sizeof(err)) == MQE2E_OK);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32);
	CHECK(kms_keystore_new_key(ks, "temps", 7, MQE2E_GK_P, sealed) == MQE2E_OK);
	CHECK(kms_keystore_open_key(ks, "temps", 7, MQE2E_GK_P, sealed, sizeof(sealed), k1) == MQE2E_OK);
	/* Moved to another group, epoch or kind: does not open. */
	CHECK(kms_keystore_open_key(ks, "temps2", 7, MQE2E_GK_P, sealed, sizeof(sealed), k2) == MQE2E_ERR_BAD_TAG);
	CHECK(kms_keystore_open_key(ks, "temps", 8, MQE2E_GK_P, sealed, sizeof(sealed), k2) == MQE2E_ERR_BAD_TAG);
	CHECK(kms_keystore_open_key(ks, "temps", 7, MQE2E_GK_B, sealed, sizeof(sealed), k2) == MQE2E_ERR_BAD_TAG);
	CHECK(kms_keystore_open_key(ks, "temps", 7, MQE2E_GK_P, sealed, sizeof(sealed) - 1, k2) == MQE2E_ERR_BAD_FORMAT);
	CHECK(kms_keystore_open_key(ks, "temps", 7, MQE2E_GK_P, NULL, 0, k2) == MQE2E_ERR_BAD_FORMAT);
	sealed[20] ^= 1;
	CHECK(kms_keystore_open_key(ks, "temps", 7, MQE2E_GK_P, sealed, sizeof(sealed), k2) == MQE2E_ERR_BAD_TAG);
	sealed[20] ^= 1;
	/* Same file, same key. */
	CHECK(kms_keystore_open(p, 1, &ks2, err, sizeof(err)) == MQE2E_OK);
	CHECK(kms_keystore_open_key(ks2, "temps", 7, MQE2E_GK_P, sealed, sizeof(sealed), k2) == MQE2E_OK);
	CHECK(memcmp(k1, k2, sizeof(k1)) == 0);
	/* The key-check value opens under the same key only, and a group key
	 * does not pass for one (nor the other way round). */
	{
		uint8_t check[KMS_SEALED_LEN];

		CHECK(kms_keystore_make_check(ks, check) == MQE2E_OK);
		CHECK(kms_keystore_verify_check(ks2, check, sizeof(check)) == MQE2E_OK);
		CHECK(kms_keystore_verify_check(ks, sealed, sizeof(sealed)) == MQE2E_ERR_BAD_TAG);
		CHECK(kms_keystore_open_key(ks, "temps", 7, MQE2E_GK_P, check, sizeof(check), k2) ==
		    MQE2E_ERR_BAD_TAG);
		CHECK(kms_keystore_verify_check(ks, check, sizeof(check) - 1) == MQE2E_ERR_BAD_FORMAT);
		check[30] ^= 0x40;
		CHECK(kms_keystore_verify_check(ks, check, sizeof(check)) == MQE2E_ERR_BAD_TAG);
		check[30] ^= 0x40;
		kms_keystore_free(ks2);
		ks2 = NULL;
		path(p, sizeof(p), "other.key");
		CHECK(kms_keystore_open(p, 1, &ks2, err, sizeof(err)) == MQE2E_OK);
		CHECK(kms_keystore_verify_check(ks2, check, sizeof(check)) == MQE2E_ERR_BAD_TAG);
	}
	kms_keystore_free(ks);
	kms_keystore_free(ks2);
	/* A master key of the wrong size is refused, naming the file. */
	path(p, sizeof(p), "short.key");
	CHECK(kms_file_create(p, "abc", 3, 0600, err, sizeof(err)) == MQE2E_OK);
	CHECK(kms_keystore_open(p, 1, &ks, err, sizeof(err)) == MQE2E_ERR_BAD_FORMAT);
	CHECK(strstr(err, "short.key") != NULL);
	kms_keystore_free(NULL);
}

static char *
csr_pem(EVP_PKEY *key, const char *cn)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, key);
	if (X509_REQ_sign(req, key, NULL) > 0 && PEM_write_bio_X509_REQ(bio, req) == 1 &&
	    (n = BIO_get_mem_data(bio, &data)) > 0 && (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(bio);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return out;
}

static void
test_ca(void)
{
	struct kms_ca *ca = NULL, *ca2 = NULL;
	struct kms_issued is;
	struct mqe2e_trust *trust = NULL;
	struct kms_crl_entry revoked[1];
	EVP_PKEY *key = NULL, *pub = NULL;
	X509 *cert = NULL;
	BIO *bio;
	char err[512], *pem = NULL, *key_pem = NULL, *crl = NULL, id[64], p[256];
	size_t key_len = 0, crl_len = 0;
	enum mqe2e_kind kind;
	time_t now = time(NULL);

	CHECK(kms_ca_open(dir, 0, &ca, err, sizeof(err)) == MQE2E_ERR_IO);   /* none yet */
	CHECK(kms_ca_open(dir, 1, &ca, err, sizeof(err)) == MQE2E_OK);
	if (ca == NULL)
		return;
	CHECK(kms_ca_open(dir, 0, &ca2, err, sizeof(err)) == MQE2E_OK);
	CHECK(ca2 != NULL && strcmp(kms_ca_pem(ca), kms_ca_pem(ca2)) == 0);
	kms_ca_free(ca2);
	CHECK(mqe2e_trust_new_from_pem(kms_ca_pem(ca), strlen(kms_ca_pem(ca)), &trust) == MQE2E_OK);

	/* From a CSR: subject forced to CN=name, OU=kind. */
	CHECK(kms_ca_keygen(&key, &key_pem, &key_len) == MQE2E_OK);
	CHECK(key_pem != NULL && strstr(key_pem, "BEGIN PRIVATE KEY") != NULL);
	pem = csr_pem(key, "someone-else");
	CHECK(pem != NULL && kms_ca_csr_pubkey(pem, strlen(pem), &pub) == MQE2E_OK);
	CHECK(kms_ca_issue(ca, pub, "sensor-1", "client", 30, now, &is) == MQE2E_OK);
	bio = BIO_new_mem_buf(is.cert_pem, -1);
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	CHECK(cert != NULL);
	if (cert != NULL) {
		CHECK(mqe2e_trust_verify(trust, cert, now) == MQE2E_OK);
		CHECK(mqe2e_cert_identity(cert, id, sizeof(id), &kind) == MQE2E_OK);
		CHECK(strcmp(id, "sensor-1") == 0 && kind == MQE2E_KIND_CLIENT);
		CHECK(mqe2e_trust_verify(trust, cert, now + 31 * 86400) == MQE2E_ERR_CERT_EXPIRED);
	}
	/* A CRL listing it is accepted by core and revokes it. */
	revoked[0].serial = is.serial;
	revoked[0].revoked_at = now;
	CHECK(kms_ca_make_crl(ca, revoked, 1, 5, now, &crl, &crl_len) == MQE2E_OK);
	CHECK(crl != NULL && mqe2e_trust_set_crl(trust, (const uint8_t *)crl, crl_len) == MQE2E_OK);
	if (cert != NULL)
		CHECK(mqe2e_trust_verify(trust, cert, now) == MQE2E_ERR_REVOKED);

	/* Malformed CSRs. */
	mqe2e_pkey_free(pub);
	pub = NULL;
	pem[strlen(pem) / 2] ^= 1;
	CHECK(kms_ca_csr_pubkey(pem, strlen(pem), &pub) != MQE2E_OK && pub == NULL);
	CHECK(kms_ca_csr_pubkey("junk", 4, &pub) == MQE2E_ERR_BAD_FORMAT && pub == NULL);
	CHECK(kms_ca_csr_pubkey("", 0, &pub) == MQE2E_ERR_BAD_FORMAT);

	/* Half a CA is an error naming the missing file. */
	path(p, sizeof(p), "ca.crt");
	CHECK(unlink(p) == 0);
	CHECK(kms_ca_open(dir, 1, &ca2, err, sizeof(err)) == MQE2E_ERR_IO && ca2 == NULL);
	CHECK(strstr(err, "ca.crt") != NULL);

	mqe2e_cert_free(cert);
	kms_issued_clear(&is);
	free(pem);
	free(crl);
	if (key_pem != NULL) {
		mqe2e_wipe(key_pem, key_len);
		free(key_pem);
	}
	mqe2e_pkey_free(key);
	mqe2e_pkey_free(pub);
	mqe2e_trust_free(trust);
	kms_ca_free(ca);
}

static void
test_db(void)
{
	struct kms_db *db = NULL;
	char p[256], err[512];
	int64_t v = 0;
	sqlite3 *raw;

	path(p, sizeof(p), "kms.db");
	/* Without create, a missing database is not made up. */
	CHECK(kms_db_open(p, NULL, 0, &db, err, sizeof(err)) != MQE2E_OK && db == NULL);
	CHECK(strstr(err, "kms.db") != NULL && kms_file_exists(p) == 0);
	CHECK(kms_db_open(p, NULL, 1, &db, err, sizeof(err)) == MQE2E_OK);
	if (db == NULL)
		return;
	CHECK(kms_db_begin(db, 1) == MQE2E_OK);
	CHECK(kms_db_end(db, kms_store_counter_bump(db, "policy_version", &v)) == MQE2E_OK && v == 2);
	kms_db_close(db);
	db = NULL;
	/* Reopen: migrations are not re-applied, data kept. */
	CHECK(kms_db_open(p, NULL, 0, &db, err, sizeof(err)) == MQE2E_OK);
	CHECK(kms_db_begin(db, 0) == MQE2E_OK);
	CHECK(kms_db_end(db, kms_store_counter_get(db, "policy_version", &v)) == MQE2E_OK && v == 2);
	/* The KMS's own state: one key-check value, the last CRL. */
	{
		uint8_t check[KMS_SEALED_LEN], got[KMS_SEALED_LEN];
		struct kms_crl_row crl;

		memset(check, 0x5a, sizeof(check));
		CHECK(kms_db_begin(db, 0) == MQE2E_OK);
		CHECK(kms_db_end(db, kms_store_keycheck_get(db, got)) == MQE2E_ERR_NOT_FOUND);
		CHECK(kms_db_begin(db, 0) == MQE2E_OK);
		CHECK(kms_db_end(db, kms_store_crl_get(db, &crl)) == MQE2E_ERR_NOT_FOUND &&
		    crl.pem == NULL);
		CHECK(kms_db_begin(db, 1) == MQE2E_OK);
		CHECK(kms_db_end(db, kms_store_keycheck_set(db, check, 1)) == MQE2E_OK);
		CHECK(kms_db_begin(db, 1) == MQE2E_OK);
		CHECK(kms_db_end(db, kms_store_keycheck_set(db, check, 2)) == MQE2E_ERR_CONFLICT);
		CHECK(kms_db_begin(db, 0) == MQE2E_OK);
		CHECK(kms_db_end(db, kms_store_keycheck_get(db, got)) == MQE2E_OK &&
		    memcmp(got, check, sizeof(got)) == 0);
		CHECK(kms_db_begin(db, 1) == MQE2E_OK);
		CHECK(kms_db_end(db, kms_store_crl_set(db, 1, 10, 0, "one", 3)) == MQE2E_OK);
		CHECK(kms_db_begin(db, 1) == MQE2E_OK);
		CHECK(kms_db_end(db, kms_store_crl_set(db, 2, 20, 1, "two!", 4)) == MQE2E_OK);
		CHECK(kms_db_begin(db, 0) == MQE2E_OK);
		CHECK(kms_db_end(db, kms_store_crl_get(db, &crl)) == MQE2E_OK);
		CHECK(crl.number == 2 && crl.issued == 20 && crl.revoked == 1 && crl.pem_len == 4 &&
		    crl.pem != NULL && strcmp(crl.pem, "two!") == 0);
		free(crl.pem);
	}
	kms_db_close(db);
	db = NULL;
	/* Every compiled-in migration was applied, in order. */
	CHECK(kms_migrations_count >= 2 && kms_migrations[0].number == 1 &&
	    kms_migrations[1].number == 2);
	/* Both backends have every migration, by number and name, and the copy
	 * between them (store_copy.h) knows the current schema. */
	{
		unsigned i;

		for (i = 0; i < kms_migrations_count; i++)
			CHECK(kms_pg_migrations[i].number == i + 1 &&
			    strcmp(kms_pg_migrations[i].name, kms_migrations[i].name) == 0);
		CHECK(KMS_TABLES_SCHEMA == kms_migrations_count);
	}
	CHECK(sqlite3_open(p, &raw) == SQLITE_OK);
	{
		sqlite3_stmt *st = NULL;

		CHECK(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_int64(st, 0) == (sqlite3_int64)kms_migrations_count);
		sqlite3_finalize(st);
	}
	sqlite3_close(raw);
	/* A schema newer than this build is refused. */
	CHECK(sqlite3_open(p, &raw) == SQLITE_OK);
	CHECK(sqlite3_exec(raw, "PRAGMA user_version = 999", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(raw);
	CHECK(kms_db_open(p, NULL, 0, &db, err, sizeof(err)) == MQE2E_ERR_BAD_VERSION && db == NULL);
	CHECK(strstr(err, "kms.db") != NULL);
	/* Not a database. */
	path(p, sizeof(p), "junk.db");
	CHECK(kms_file_create(p, "not a database, definitely not one, no.........................",
	    64, 0600, err, sizeof(err)) == MQE2E_OK);
	CHECK(kms_db_open(p, NULL, 0, &db, err, sizeof(err)) != MQE2E_OK && db == NULL);
	CHECK(strstr(err, "junk.db") != NULL);
	/* An empty (0-byte) file is not a database without create. */
	path(p, sizeof(p), "empty.db");
	CHECK(kms_file_create(p, "", 0, 0600, err, sizeof(err)) == MQE2E_OK);
	CHECK(kms_db_open(p, NULL, 0, &db, err, sizeof(err)) == MQE2E_ERR_NOT_FOUND && db == NULL);
	CHECK(strstr(err, "empty.db") != NULL && strstr(err, "--init") != NULL);
	kms_db_close(NULL);
}

static void
test_time(void)
{
	char buf[32];

	kms_time_str(0, buf);
	CHECK(strcmp(buf, "1970-01-01T00:00:00Z") == 0);
	kms_time_str(1795000000, buf);
	CHECK(strcmp(buf, "2026-11-18T11:06:40Z") == 0);
}

static void
cleanup(void)
{
	static const char *const names[] = {
		"master.key", "short.key", "ca.key", "ca.crt", "kms.db", "kms.db-wal",
		"kms.db-shm", "junk.db",
	};
	char p[256];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path(p, sizeof(p), names[i]);
		(void)unlink(p);
	}
	(void)rmdir(dir);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_internals.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	test_keystore();
	test_ca();
	test_db();
	test_time();
	cleanup();
	return check_result("test_internals");
}
