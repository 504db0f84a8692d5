#!/usr/bin/env bash
# Runs each fuzz target (pkg:Name) for FUZZTIME, from its corpus in
# testdata/fuzz/ on. Fails on a finding: a failing input written there, or
# a corpus that fails when replayed.
#
# Go's fuzzing coordinator sometimes ends a run with a bare "context
# deadline exceeded" or "fuzzing process hung or terminated unexpectedly"
# and no input when a worker is busy minimizing at the deadline
# (golang/go#56238, golang/go#52569). Such a run is reported, its corpus
# replayed, and it fails only if the replay does: CI stays red for findings
# and only for findings.
set -uo pipefail
go=${GO:-go}
fuzztime=${FUZZTIME:-5s}
failed=0
for target in "$@"; do
  pkg=${target%%:*} name=${target#*:}
  corpus="$pkg/testdata/fuzz/$name"
  echo "fuzz $name in $pkg for $fuzztime"
  before=$(ls "$corpus" 2>/dev/null)
  log=$(mktemp)
  # Minimizing a new input briefly keeps workers answering the deadline.
  if "$go" test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg" 2>&1 | tee "$log"; then
    rm -f "$log"
    continue
  fi
  after=$(ls "$corpus" 2>/dev/null)
  if grep -q "Failing input written" "$log" || [ "$before" != "$after" ]; then
    echo "fuzz $name: FOUND a failing input (see above); it is in $corpus"
    failed=1
  else
    echo "fuzz $name: no new failing input was written; replaying the corpus to tell a finding from the engine stopping late"
    "$go" test -count=1 -run "^$name\$" "$pkg" || failed=1
  fi
  rm -f "$log"
done
exit $failed
