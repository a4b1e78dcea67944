#!/usr/bin/env bash
# The whole queuectl flow in one run: a fresh queue, a mix of jobs that succeed and
# fail, a worker that drains them, the status, and the failure found in the DLQ.
#
# It uses a fresh home in a temporary directory (so your ~/.queuectl is untouched),
# removed when the script ends however it ends, unless QUEUECTL_HOME is set. Needs
# `queuectl` on PATH.
set -euo pipefail

worker=
temporary=
cleanup() {
    if [ -n "$worker" ]; then
        kill "$worker" 2>/dev/null || true
        wait "$worker" 2>/dev/null || true
    fi
    if [ -n "$temporary" ]; then
        rm -rf "$temporary"
    fi
}
trap cleanup EXIT
if [ -z "${QUEUECTL_HOME:-}" ]; then
    temporary=$(mktemp -d -t queuectl-demo.XXXXXX)
    export QUEUECTL_HOME="$temporary"
fi
echo "== home: $QUEUECTL_HOME (SQLite store: $QUEUECTL_HOME/queuectl.db)"

echo "== settings: 2 retries, 1.5 s backoff base (delays 1.5 s, 2.25 s)"
queuectl config set max-retries 2
queuectl config set backoff-base 1.5

echo "== enqueue a mix of jobs"
queuectl enqueue '{"command": "echo Hello World"}'
queuectl enqueue '{"id": "my-unique-job", "command": "sleep 1", "max_retries": 5}'
queuectl enqueue '{"id": "always-fails", "command": "echo disk is on fire >&2; exit 3"}'
queuectl enqueue '{"id": "no-such-command", "command": "definitely-not-a-command"}'
printf '%s\n' '{"command": "sleep 0.5 && echo one"}' '{"command": "sleep 0.5 && echo two"}' |
    queuectl enqueue -
queuectl status

echo "== start 3 workers in the background and watch the status"
queuectl worker start --count 3 2>"$QUEUECTL_HOME/worker.log" &
worker=$!
while :; do
    counts=$(queuectl status --json | python3 -c '
import json, sys
jobs = json.load(sys.stdin)["jobs"]
print(jobs["pending"] + jobs["processing"] + jobs["failed"], jobs["completed"], jobs["dead"])')
    read -r active completed dead <<<"$counts"
    echo "   active: $active  completed: $completed  dead: $dead"
    [ "$active" -eq 0 ] && break
    sleep 0.5
done
queuectl status

echo "== stop the workers (they drain first)"
queuectl worker stop
wait "$worker"
worker=
queuectl list

echo "== the dead letter queue"
queuectl dlq list
queuectl dlq list --json | python3 -c '
import json, sys
for job in json.load(sys.stdin):
    print("%s: %d attempts, last error: %r" % (job["id"], job["attempts"], job["last_error"]))'

echo "== what the failing job printed, and its attempts"
queuectl logs always-fails --stderr
queuectl show always-fails | tail -4

echo "== retry one dead job: it is pending again with attempts reset"
queuectl dlq retry always-fails
queuectl list --state pending
