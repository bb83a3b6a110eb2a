#!/usr/bin/env bash
# Checks what the container deployment would run, without a Docker engine: the compose file's
# syntax and the production bundle of the dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/use-node.sh
if command -v docker-compose >/dev/null; then
  HANDOFF_JWT_SECRET=check-check-check-check-check-check HANDOFF_ENCRYPTION_KEY=00 \
    docker-compose -f docker-compose.yaml config -q
  echo "docker-compose.yaml: valid"
else
  echo "docker-compose not installed: compose file not checked" >&2
  exit 1
fi
npm run build
