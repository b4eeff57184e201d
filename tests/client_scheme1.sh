#!/bin/sh
# Scheme 1 end to end: 1 publisher, 3 subscribers, 100 QoS 1 messages,
# no plaintext for the broker or the wire (see client_exchange.sh).
exec bash "$top_srcdir/tests/client_exchange.sh" 1
