/*
 * mqe2e_err.h - the one error enum of the project.
 *
 * Every function in the protocol core, the KMS, the broker extension and the
 * client library returns one of these (0 = success, negative = failure).
 * Translate to MOSQ_ERR_*, an HTTP status or an exit code only at the edges.
 */
#ifndef MQE2E_ERR_H
#define MQE2E_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MQE2E_WUR __attribute__((warn_unused_result))
#else
#define MQE2E_WUR
#endif

typedef enum mqe2e_err {
	MQE2E_OK = 0,
	MQE2E_ERR_NOMEM = -1,          /* allocation failed */
	MQE2E_ERR_INVALID_ARG = -2,    /* caller passed a bad argument */
	MQE2E_ERR_TRUNCATED = -3,      /* input ended inside a field */
	MQE2E_ERR_TRAILING = -4,       /* bytes left over after a message */
	MQE2E_ERR_TOO_LONG = -5,       /* a length exceeds its cap */
	MQE2E_ERR_BAD_VERSION = -6,    /* unknown protocol version */
	MQE2E_ERR_BAD_TYPE = -7,       /* unknown message type */
	MQE2E_ERR_BAD_FORMAT = -8,     /* a field has an invalid value */
	MQE2E_ERR_CRYPTO = -9,         /* the crypto library failed */
	MQE2E_ERR_BAD_SIGNATURE = -10, /* a signature did not verify */
	MQE2E_ERR_BAD_TAG = -11,       /* an AEAD tag or MAC did not verify */
	MQE2E_ERR_UNKNOWN_CA = -12,    /* certificate does not chain to our CA */
	MQE2E_ERR_REVOKED = -13,       /* certificate is revoked */
	MQE2E_ERR_CERT_EXPIRED = -14,  /* certificate not yet valid or expired */
	MQE2E_ERR_BAD_CERT = -15,      /* certificate unparsable or wrong kind */
	MQE2E_ERR_ID_MISMATCH = -16,   /* claimed identity != certificate identity */
	MQE2E_ERR_CLOCK_SKEW = -17,    /* timestamp outside the allowed window */
	MQE2E_ERR_NONCE_REUSE = -18,   /* handshake nonce seen before */
	MQE2E_ERR_REPLAY = -19,        /* sequence number replayed or too old */
	MQE2E_ERR_UNKNOWN_KEY = -20,   /* no key for this group/pair and epoch */
	MQE2E_ERR_EXPIRED_KEY = -21,   /* epoch past its grace period */
	MQE2E_ERR_DENIED = -22,        /* not allowed by policy (no grant) */
	MQE2E_ERR_NOT_FOUND = -23,     /* unknown id */
	MQE2E_ERR_IO = -24,            /* file or socket I/O failed (see errno) */
	MQE2E_ERR_UNAVAILABLE = -25,   /* a peer (KMS, broker) cannot be reached */
	MQE2E_ERR_BAD_METHOD = -26,    /* unknown authentication method */
	MQE2E_ERR_INTERNAL = -27,      /* a bug: should not happen */
	MQE2E_ERR_CONFLICT = -28,      /* already exists / state conflict */
	MQE2E_ERR_TIMEOUT = -29,       /* gave up waiting */
	MQE2E_ERR_QUOTA = -30,         /* this peer used up its share (try later) */
	MQE2E_ERR_NO_SPACE = -31,      /* disk full (ENOSPC, EDQUOT): writes fail */
	MQE2E_ERR__COUNT = 32
} mqe2e_err;

/* A short English sentence for an error code; never NULL. */
const char *mqe2e_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
