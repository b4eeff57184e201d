#!/bin/bash
# The Python binding's own behaviour (callbacks, threads, queue, life cycle),
# its declarations against mqe2e.h, the README example run as written, and
# pip install ./python offline: python/tests/test_api.py, test_layout.py,
# test_readme.py, test_install.py.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/python16_lib.sh"
python16_pytest test_api.py test_layout.py test_readme.py test_install.py
