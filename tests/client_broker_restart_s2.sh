#!/bin/sh
# Broker restart under live clients in scheme 2 (see client_broker_restart.sh).
exec bash "$top_srcdir/tests/client_broker_restart.sh" 2
