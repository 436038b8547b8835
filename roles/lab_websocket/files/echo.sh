#!/bin/sh
# faultline.chaos lab: a clean WebSocket echo handler for websocketd.
# websocketd starts one process per connection; this one echoes every line
# back and, when the client goes away (EOF on stdin or a signal), writes one
# cleanup line to the session log given as $1 and exits with nothing left.
log="${1:-/dev/null}"
now() { date +%s.%N; }
echo "$(now) connect session=$$ remote=${REMOTE_ADDR:-?}:${REMOTE_PORT:-?}" >>"$log"
cleanup() {
    echo "$(now) disconnect session=$$ cleanup=done" >>"$log"
    exit 0
}
trap cleanup INT TERM HUP
while IFS= read -r line; do
    printf '%s\n' "$line"
done
cleanup
