#!/usr/bin/env bash
# One command to try handoff: installs what it needs, then starts a hub and one agent on the
# embedded database (no PostgreSQL server needed) and prints where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/use-node.sh
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --loglevel=error
exec npm start
