#!/usr/bin/env bash
# The test command (`npm test`, and what .ci/run runs): installs what is missing,
# then type-checks, lints, and runs the unit tests and the integration tests
# (which start their own embedded stack on ports 27200+, apart from `lookout up`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/install.sh
export PATH="$PWD/node_modules/.bin:$PATH"
# Real per-band Sentinel-2 files (PyPI bigearthnet-common) for the STAC tests, which would otherwise skip.
echo "== test data (bench/raster-data.sh --only bigearthnet)"; bash bench/raster-data.sh --only bigearthnet
echo "== typecheck"; tsc --noEmit -p .
echo "== lint"; eslint .
echo "== format (Prettier; npm run format fixes)"; prettier --check . --log-level warn
echo "== import circles"; npm run -s lint:cycles
echo "== deployment files (Dockerfile, compose, Helm chart)"; bash infra/lint-deploy.sh
mkdir -p .lookout
results=.lookout/test-results.json
rc=0
echo "== tests (unit, then integration on the real servers)"
vitest run --reporter=default --reporter=json --outputFile="$results" "$@" || rc=$?
if [ -f "$results" ]; then
  node -e '
    const r = require(process.argv[1]);
    const skipped = (r.numPendingTests || 0) + (r.numTodoTests || 0);
    console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$PWD/$results"
fi
exit $rc
