#!/usr/bin/env bash
# Sets everything up and runs the main demo (story S1): count is stopped
# with Ctrl-C (SIGINT) after 3 numbers, and the next run goes on at 4.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/deps.sh"
"$src/scripts/build.sh" "$src/build" > /dev/null

demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
cd "$demo"
count="$src/build/examples/count"
echo '$ ./count            # counts to 10, one number a second'
"$count" 10 1000 &
pid=$!
sleep 2.5
kill -INT $pid
wait $pid || echo "^C  (count saved its state and stopped: exit status $?)"
echo '$ ./count'
"$count" 10 200
echo '$ ckpt list'
"$src/build/src/ckpt" list
