/* mqe2e_err.c - messages for the project's error codes. */
#include "config.h"
#include <stddef.h>

#include "mqe2e_err.h"

static const char *const messages[MQE2E_ERR__COUNT] = {
	[0] = "success",
	[-MQE2E_ERR_NOMEM] = "out of memory",
	[-MQE2E_ERR_INVALID_ARG] = "invalid argument",
	[-MQE2E_ERR_TRUNCATED] = "message truncated",
	[-MQE2E_ERR_TRAILING] = "unexpected bytes after the end of the message",
	[-MQE2E_ERR_TOO_LONG] = "field or message longer than allowed",
	[-MQE2E_ERR_BAD_VERSION] = "unsupported protocol version",
	[-MQE2E_ERR_BAD_TYPE] = "unexpected message type",
	[-MQE2E_ERR_BAD_FORMAT] = "malformed field",
	[-MQE2E_ERR_CRYPTO] = "cryptographic operation failed",
	[-MQE2E_ERR_BAD_SIGNATURE] = "signature does not verify",
	[-MQE2E_ERR_BAD_TAG] = "authentication tag does not verify (message altered or wrong key)",
	[-MQE2E_ERR_UNKNOWN_CA] = "certificate is not issued by the trusted CA",
	[-MQE2E_ERR_REVOKED] = "certificate has been revoked",
	[-MQE2E_ERR_CERT_EXPIRED] = "certificate is expired or not yet valid",
	[-MQE2E_ERR_BAD_CERT] = "certificate is malformed or of the wrong kind",
	[-MQE2E_ERR_ID_MISMATCH] = "client id does not match the certificate identity",
	[-MQE2E_ERR_CLOCK_SKEW] = "timestamp outside the allowed clock skew (check the clocks)",
	[-MQE2E_ERR_NONCE_REUSE] = "handshake nonce was used before (replayed handshake)",
	[-MQE2E_ERR_REPLAY] = "message replayed or too old for the replay window",
	[-MQE2E_ERR_UNKNOWN_KEY] = "no key for this group or pair and epoch",
	[-MQE2E_ERR_EXPIRED_KEY] = "key epoch is past its grace period",
	[-MQE2E_ERR_DENIED] = "not allowed by policy (no grant)",
	[-MQE2E_ERR_NOT_FOUND] = "not found",
	[-MQE2E_ERR_IO] = "input/output error",
	[-MQE2E_ERR_UNAVAILABLE] = "service unavailable (cannot reach the peer)",
	[-MQE2E_ERR_BAD_METHOD] = "unknown authentication method",
	[-MQE2E_ERR_INTERNAL] = "internal error",
	[-MQE2E_ERR_CONFLICT] = "already exists or conflicts with the current state",
	[-MQE2E_ERR_TIMEOUT] = "timed out",
	[-MQE2E_ERR_QUOTA] = "too many requests from this peer (its share is used up: try again later)",
	[-MQE2E_ERR_NO_SPACE] = "no space left on the device (disk or quota full)",
};

const char *
mqe2e_strerror(int err)
{
	if (err > 0 || err <= -MQE2E_ERR__COUNT || messages[-err] == NULL)
		return "unknown error";
	return messages[-err];
}
