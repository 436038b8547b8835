#!/bin/sh
# faultline.chaos lab: a LEAKY WebSocket handler for websocketd (a true
# positive for the leak check of faultline.chaos.websocket_flap).
# Like echo.sh, but every connection forks a detached grandchild ("agent")
# that outlives the session: it is re-parented away from websocketd yet stays
# in websocketd's session, where the leak check and `lab_state: down` find it.
log="${1:-/dev/null}"
now() { date +%s.%N; }
echo "$(now) connect session=$$ remote=${REMOTE_ADDR:-?}:${REMOTE_PORT:-?}" >>"$log"
( sleep 300 & ) </dev/null >/dev/null 2>&1
cleanup() {
    echo "$(now) disconnect session=$$ cleanup=done" >>"$log"
    exit 0
}
trap cleanup INT TERM HUP
while IFS= read -r line; do
    printf '%s\n' "$line"
done
cleanup
