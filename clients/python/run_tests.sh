#!/usr/bin/env bash
# Runs the client's tests against a real agent process; the last line is "N passed, N failed".
set -u
cd "$(dirname "$0")"
out=$(python3 -m unittest discover -s tests -t . -v 2>&1)
status=$?
printf '%s\n' "$out"
ran=$(printf '%s\n' "$out" | sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p' | tail -1)
failed=$(printf '%s\n' "$out" | grep -Eo '(failures|errors)=[0-9]+' | cut -d= -f2 | awk '{s+=$1} END {print s+0}')
skipped=$(printf '%s\n' "$out" | grep -Eo 'skipped=[0-9]+' | cut -d= -f2)
ran=${ran:-0}; failed=${failed:-0}; skipped=${skipped:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$((ran - failed - skipped)) passed, ${failed} failed"
exit "$status"
