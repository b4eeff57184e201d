#!/bin/bash
# One process, 100 clients in a row, each disconnecting from inside its
# message callback: every next client connects (python/tests/test_disconnect.py).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/python16_lib.sh"
python16_pytest test_disconnect.py
