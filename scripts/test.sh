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
# Bounded, so a hung process fails the run with a message instead of stalling it: mocha waits for every
# handle to close after the last suite, and the Python tests wait on a real agent.
PERSEUS_TEST_COUNTS="$counts" timeout --kill-after=30 "${PERSEUS_MOCHA_TIMEOUT:-45m}" npx mocha
rc=$?
if [ "$rc" -ne 0 ]; then status=1; fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "mocha did not finish within ${PERSEUS_MOCHA_TIMEOUT:-45m} (an open handle after the last suite, or a hung test)"; fi
read -r mp mf ms < <(node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")||"{}");console.log(c.passed??0,c.failed??1,c.skipped??0)' "$counts")
rm -f "$counts"
py_out=$(timeout --kill-after=10 "${PERSEUS_PYTHON_TIMEOUT:-15m}" bash clients/python/run_tests.sh 2>&1)
py_status=$?
if [ "$py_status" -eq 124 ] || [ "$py_status" -eq 137 ]; then py_out="$py_out
the Python client's tests did not finish within ${PERSEUS_PYTHON_TIMEOUT:-15m}"; fi
printf '%s\n' "$py_out" | tail -n 15
read -r pp pf < <(printf '%s\n' "$py_out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' | tail -1)
pp=${pp:-0}; pf=${pf:-0}
if [ "$py_status" -ne 0 ] && [ "$pf" -eq 0 ]; then pf=1; fi
[ "$py_status" -ne 0 ] && status=1
# The container image check (.ci/run runs scripts/ci-image.sh before the tests) counts as one test.
ip=0; if_=0; is=0
case "$(cat "${PERSEUS_IMAGE_CHECK_STATUS:-/dev/null}" 2>/dev/null)" in
  passed) ip=1; echo "image check: passed" ;;
  failed) if_=1; status=1; echo "image check: FAILED (see scripts/ci-image.sh's output above)" ;;
  skipped) is=1; echo "image check: skipped (mmdebstrap or buildah missing)" ;;
esac
# The fault suite's trials (.ci/run runs it before the tests and names its counts file), one test each.
fp=0; ff=0
if [ -n "${PERSEUS_FAULTS_COUNTS:-}" ]; then
  read -r fp ff < <(node -e 'let c={};try{c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))}catch{};console.log(c.passed??0,c.failed??1)' "$PERSEUS_FAULTS_COUNTS")
  echo "fault suite: $fp trials passed, $ff failed"
  [ "$ff" -ne 0 ] && status=1
fi
[ "$status" -ne 0 ] && [ "$((mf + pf + if_ + ff))" -eq 0 ] && mf=1
echo
echo "tests took $(( $(date +%s) - started )) s"
echo "$((mp + pp + ip + fp)) passed, $((mf + pf + if_ + ff)) failed, $((ms + is)) skipped"
exit "$status"
