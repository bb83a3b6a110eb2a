# Sourced by test.sh (the README's test command) and .ci/run: makes sure what the tests drive is
# on the machine. PostgreSQL and Redis are started when they are down and this machine has them;
# the Debian packages the suites use (a terminal multiplexer, the asciinema player, Chromium, a
# sandbox, a Python Socket.IO client, …) are installed with apt-get when missing and this user may;
# otherwise it says what to install and stops.

# command → Debian package; a command of the form "py:MODULE" is a Python module of /usr/bin/python3.
HANDOFF_TEST_PACKAGES=(
  "psql:postgresql-client"
  "tmux:tmux"
  "asciinema:asciinema"
  "chromium:chromium"
  "bwrap:bubblewrap"
  "py:socketio:python3-socketio"
  "py:websocket:python3-websocket"
  "py:aiohttp:python3-aiohttp"
  "docker-compose:docker-compose"
)

handoff_have() {
  case "$1" in
    py:*) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import ${1#py:}" 2>/dev/null ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

handoff_test_services() {
  if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    fi
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  if ! (command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q); then
    echo "handoff tests: PostgreSQL is not answering on 127.0.0.1:5432 (user postgres, trust auth; HANDOFF_TEST_PG_URL overrides)" >&2
    return 1
  fi
  if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  if ! (command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1); then
    echo "handoff tests: Redis is not answering on 127.0.0.1:6379" >&2
    return 1
  fi
}

handoff_test_packages() {
  local need=() entry cmd pkg
  for entry in "${HANDOFF_TEST_PACKAGES[@]}"; do
    pkg="${entry##*:}"
    cmd="${entry%:*}"
    handoff_have "$cmd" || need+=("$pkg")
  done
  ((${#need[@]})) || return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
  fi
  if ! command -v apt-get >/dev/null || [ "$sudo" = none ]; then
    echo "handoff tests: missing ${need[*]} — install these (Debian/Ubuntu package names) and run again" >&2
    return 1
  fi
  echo "handoff tests: installing ${need[*]} from Debian" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
