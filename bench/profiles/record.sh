#!/usr/bin/env bash
# record.sh NAME [DATABASE_URL]: a py-spy flame graph (NAME.svg) and top-of-profile text
# (NAME.txt) of one `sla-bot serve` taking 2,000 issues.opened deliveries at once, as in
# the perf harness's e2e_compare.sh (server pinned to CPU 1, load and fake GitHub on CPU 0).
# Needs the harness set up in $PERF (default /tmp/sla-perf, see /work/shared/perf/README.md)
# and py-spy in the project's venv.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
NAME=$1 DB=${2:-}
PERF=${PERF:-/tmp/sla-perf} PY=$PERF/.venv/bin/python KEY=$PERF/tmp/app-key.pem
WORK=$(mktemp -d) SECRET=profile-webhook-secret FAKE=http://127.0.0.1:18190 URL=http://127.0.0.1:18191/webhooks/github
DB=${DB:-sqlite:///$WORK/app.db}
PGDB=
if [[ $DB == postgresql* ]]; then  # a fresh database: the same bodies again would be replays
  PGDB=perf_profile_$$; psql "$DB" -qc "create database $PGDB" >/dev/null; DB="${DB%/*}/$PGDB"
fi
( exec taskset -c 0 "$PY" "$PERF/fast_github.py" --host 127.0.0.1 --port 18190 ) >"$WORK/fg.log" 2>&1 &
FG=$!
( cd "$WORK" && GITHUB_APP_ID=1 GITHUB_PRIVATE_KEY_PATH=$KEY GITHUB_WEBHOOK_SECRET=$SECRET \
  GITHUB_API_URL=$FAKE DATABASE_URL=$DB SLA_SWEEP_INTERVAL=0 LOG_LEVEL=WARNING SLA_GITHUB_WRITE_RATE=0 \
  exec taskset -c 1 "$ROOT/.venv/bin/sla-bot" serve --host 127.0.0.1 --port 18191 ) >"$WORK/app.log" 2>&1 &
APP=$!
trap 'kill $APP $FG 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "$FAKE/__count" && curl -s -o /dev/null "$URL" && break; sleep 0.2; done
taskset -c 0 "$PY" "$PERF/e2e_burst.py" "$URL" --secret $SECRET --fake $FAKE --n 300 --first 1 --wait 60 >/dev/null
"$ROOT/.venv/bin/py-spy" record --pid $APP --rate 200 --gil --output "$HERE/$NAME.svg" --duration 600 >/dev/null 2>&1 &
SPY=$!
"$ROOT/.venv/bin/py-spy" record --pid $APP --rate 200 --gil --format raw --output "$WORK/raw.txt" --duration 600 >/dev/null 2>&1 &
RAW=$!
sleep 1
taskset -c 0 "$PY" "$PERF/e2e_burst.py" "$URL" --secret $SECRET --fake $FAKE --n 2000 --first 100000 --wait 300 | grep '^RESULT' | tee "$HERE/$NAME.result"
kill -INT $SPY $RAW; wait $SPY $RAW 2>/dev/null || true
"$PY" - "$WORK/raw.txt" >"$HERE/$NAME.txt" <<'PY'
import sys, collections
own, total, n = collections.Counter(), collections.Counter(), 0
for line in open(sys.argv[1]):
    stack, _, count = line.rstrip().rpartition(" ")
    frames = stack.split(";"); c = int(count); n += c
    own[frames[-1]] += c
    for f in set(frames): total[f] += c
print(f"samples: {n} (py-spy, 200/s, thread holding the GIL)\n\n## top frames by own samples")
for f, c in own.most_common(40): print(f"{100*c/n:5.1f}%  {f}")
print("\n## top frames by inclusive samples")
for f, c in total.most_common(60): print(f"{100*c/n:5.1f}%  {f}")
PY
rm -rf "$WORK"
kill $APP 2>/dev/null || true; wait $APP 2>/dev/null || true
if [ -n "$PGDB" ]; then psql "${DB%/*}/postgres" -qc "drop database $PGDB" >/dev/null || true; fi
