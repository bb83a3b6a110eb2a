#!/usr/bin/env bash
# The test command of the README and of CI: what the suites drive (services, Debian packages),
# then install, lint + type check, build, and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/test-deps.sh
handoff_test_services
handoff_test_packages
. scripts/use-node.sh
npm ci --loglevel=error
npm run lint
npm run build
npm test
