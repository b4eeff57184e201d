/*
 * testpki.h - deterministic test PKI for the wire/handshake tests: Ed25519
 * keys from fixed seeds, certificates with fixed serials and validity, so
 * that every DER (and every signature over it) is the same on every run.
 */
#ifndef MQE2E_TESTPKI_H
#define MQE2E_TESTPKI_H

#include <stdint.h>
#include <time.h>
#include "crypto.h"
#include "handshake.h"

/* 2026-01-01T00:00:00Z, the "now" of every test */
#define TP_NOW_S ((time_t)1767225600)
#define TP_NOW_MS ((uint64_t)TP_NOW_S * 1000u)

/* Key from a 32-byte seed of one repeated byte. */
EVP_PKEY *tp_key(uint8_t seed_byte);
/* Self-signed CA (OU kms), valid 2025-01-01 .. 2036-01-01. */
X509 *tp_ca(const char *cn, EVP_PKEY *ca_key);
/* Leaf (OU = ou, CN = cn, serial hex) for key, signed by ca_key, valid
 * nb .. na (seconds). */
X509 *tp_leaf(const char *cn, const char *ou, const char *serial, EVP_PKEY *key, X509 *ca,
    EVP_PKEY *ca_key, time_t nb, time_t na);
/* Trust anchor for ca. */
struct mqe2e_trust *tp_trust(X509 *ca);
/* Identity with a leaf valid around TP_NOW_S; key from seed_byte. */
struct mqe2e_identity *tp_identity(const char *cn, const char *ou, const char *serial,
    uint8_t seed_byte, X509 *ca, EVP_PKEY *ca_key);
/* Abort the test program with a message if r != MQE2E_OK. */
void tp_check(int r, const char *what);

#endif
