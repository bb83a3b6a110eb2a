#!/usr/bin/env bash
# The test command of the README and of CI: install, lint + type check, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/use-node.sh
npm ci --loglevel=error
npm run lint
npm run build
npm test
