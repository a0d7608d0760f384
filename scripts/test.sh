#!/usr/bin/env bash
# The project's test command (npm test): type check, lint, the mocha suites, and the Python client's
# unittest suite against a real agent; ends with one line "N passed, N failed, N skipped" over all of them.
set -u
cd "$(dirname "$0")/.."
started=$(date +%s)
status=0
npx tsc -p tsconfig.json --noEmit || status=1
npx eslint . || status=1
counts=$(mktemp)
PERSEUS_TEST_COUNTS="$counts" npx mocha || status=1
read -r mp mf ms < <(node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")||"{}");console.log(c.passed??0,c.failed??1,c.skipped??0)' "$counts")
rm -f "$counts"
py_out=$(bash clients/python/run_tests.sh 2>&1)
py_status=$?
printf '%s\n' "$py_out" | tail -n 15
read -r pp pf < <(printf '%s\n' "$py_out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' | tail -1)
pp=${pp:-0}; pf=${pf:-0}
if [ "$py_status" -ne 0 ] && [ "$pf" -eq 0 ]; then pf=1; fi
[ "$py_status" -ne 0 ] && status=1
[ "$status" -ne 0 ] && [ "$((mf + pf))" -eq 0 ] && mf=1
echo
echo "tests took $(( $(date +%s) - started )) s"
echo "$((mp + pp)) passed, $((mf + pf)) failed, ${ms} skipped"
exit "$status"
