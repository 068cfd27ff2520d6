# Shared set-up for bin/run and bin/test: system packages, the virtualenv, and
# throw-away service instances on loopback ports of our own.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '\033[1;34m[qianbiao]\033[0m %s\n' "$*" >&2; }

apt_install() {
  # Installs Debian packages that are missing; apt-get update runs at most once.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ -z "${_QB_APT_UPDATED:-}" ]; then
    apt-get update -qq >&2
    _QB_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_venv() {
  # Installs exactly the versions of requirements.lock, then the project itself without
  # resolving again; reinstalls only when pyproject.toml or the lock changed since.
  local stamp="$VENV/.installed.sha256"
  local want
  want="$(cat "$REPO_ROOT/pyproject.toml" "$REPO_ROOT/requirements.lock" | sha256sum | cut -d' ' -f1)"
  if [ ! -x "$PY" ]; then
    log "creating virtualenv $VENV"
    python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python packages (requirements.lock, then the project editable)"
    "$PY" -m pip install -q --upgrade pip >&2
    "$PY" -m pip install -q -r "$REPO_ROOT/requirements.lock" >&2
    "$PY" -m pip install -q --no-deps -e "$REPO_ROOT" >&2
    echo "$want" > "$stamp"
  fi
}

pg_bin() {
  local initdb
  initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$initdb" ]; then
    apt_install postgresql
    initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)"
  fi
  dirname "$initdb"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts a throw-away PostgreSQL cluster; sets PG_DATA_DIR and DATABASE_URL.
# initdb refuses to run as root, so the cluster belongs to the postgres user.
pg_start() {
  local port="$1" bindir
  bindir="$(pg_bin)"
  port_free "$port" || { log "port $port is busy: cannot start PostgreSQL"; return 1; }
  PG_DATA_DIR="$(mktemp -d /tmp/qianbiao-pg.XXXXXX)"
  chown postgres:postgres "$PG_DATA_DIR"
  runuser -u postgres -- "$bindir/initdb" -D "$PG_DATA_DIR/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 >/dev/null
  # Durability settings off: this cluster lives for one test run.
  runuser -u postgres -- "$bindir/pg_ctl" -D "$PG_DATA_DIR/data" -w -l "$PG_DATA_DIR/log" \
    -o "-p $port -k $PG_DATA_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  export PG_DATA_DIR
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/qianbiao"
  runuser -u postgres -- "$bindir/createdb" -h 127.0.0.1 -p "$port" qianbiao
  log "PostgreSQL $(basename "$(dirname "$bindir")") on 127.0.0.1:$port ($PG_DATA_DIR)"
}

pg_stop() {
  [ -n "${PG_DATA_DIR:-}" ] && [ -d "$PG_DATA_DIR/data" ] || return 0
  runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$PG_DATA_DIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PG_DATA_DIR"
}

# Starts a throw-away Redis on loopback (Debian's redis-server does not start itself here).
redis_start() {
  local port="$1"
  apt_install redis-server
  port_free "$port" || { log "port $port is busy: cannot start Redis"; return 1; }
  REDIS_DIR="$(mktemp -d /tmp/qianbiao-redis.XXXXXX)"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$REDIS_DIR" --save '' --appendonly no \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_DIR
  export REDIS_URL="redis://127.0.0.1:$port/0"
  log "Redis on 127.0.0.1:$port"
}

redis_stop() {
  [ -n "${REDIS_DIR:-}" ] && [ -f "$REDIS_DIR/redis.pid" ] || return 0
  local pid
  pid="$(cat "$REDIS_DIR/redis.pid")"
  kill "$pid" 2>/dev/null || true
  # Wait for it to go: it may still be writing into the directory we remove.
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$REDIS_DIR" || true
}

# A fresh Debian has python3 but splits its venv module (ensurepip) into python3-venv:
# installs it when there is no virtualenv yet and the interpreter lacks ensurepip.
ensure_python() {
  [ -x "$PY" ] && return 0
  local base
  base="$(command -v python3.11 || command -v python3 || true)"
  if [ -z "$base" ]; then
    apt_install python3 python3-venv
    base="$(command -v python3.11 || command -v python3)"
  fi
  "$base" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
}
