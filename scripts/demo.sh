#!/bin/bash
# The mqe2e demo (README).  Not yet available: it needs the Mosquitto plugin
# and the client tools (issue 4).
echo "demo.sh: the end-to-end demo is not built yet (needs mqe2e_plugin.so and mqe2e-pub/sub, issue 4)." >&2
exit 1
