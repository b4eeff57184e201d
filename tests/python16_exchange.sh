#!/bin/bash
# The Python binding with the C tools through the real broker, schemes 1-4
# both ways, and the errors a user meets (revoked, no grant, KMS down, ...):
# python/tests/test_exchange.py and test_errors.py.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/python16_lib.sh"
python16_pytest test_exchange.py test_errors.py
