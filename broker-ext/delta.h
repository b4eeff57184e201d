/*
 * delta.h - broker policy deltas (docs/API.md, POST /v1/policy/watch with
 * delta=1): what changed since a version, applied to the full policy the
 * broker holds.  JSON in, JSON out; the caller has checked the CA
 * signature of the delta (core/policy.h) and builds its snapshot from the
 * result as from a full one (policy.c), so a broker following deltas holds
 * exactly the policy of a full snapshot of that version.  Depends only on
 * jansson and core/ (tests/kms_keyreq uses it too).
 */
#ifndef BX_DELTA_H
#define BX_DELTA_H

#include <jansson.h>

#include "mqe2e_err.h"

/* 1 if policy (a verified answer's JSON) is a delta: it has "since". */
int delta__is(const json_t *policy);

/*
 * Apply delta to base (a full policy of version delta.since), in place:
 * changed or new groups replace theirs, "groups_removed" go, each client of
 * "grants" gets that entry (none if both lists are empty), revoked clients
 * and serials are added, "revoked_serials_removed" go; "version" and
 * "issued" become the delta's.  Lists stay sorted (groups by name, the
 * others as strings).  MQE2E_ERR_CONFLICT if base is not of version
 * delta.since (the caller asks for a full snapshot), MQE2E_ERR_BAD_FORMAT
 * for a malformed delta (base is then unusable: the caller drops it).
 */
int delta__apply(json_t *base, const json_t *delta) MQE2E_WUR;

#endif
