# Shared set-up for bin/run and bin/test: system packages, the virtualenv, and
# PostgreSQL and Redis on loopback ports of our own (throw-away for bin/test,
# persistent under the var dir for bin/run).
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

# PostgreSQL on loopback only, from a cluster under DIR (DIR/data; socket and log in
# DIR), initialised only when absent. initdb refuses to run as root, so the cluster
# belongs to the postgres user, who must be able to reach DIR. Sets DATABASE_URL.
#   _pg_up PORT DIR [SERVER OPTIONS...]
_pg_up() {
  local port="$1" dir="$2" bindir
  shift 2
  bindir="$(pg_bin)"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  runuser -u postgres -- test -w "$dir" || {
    log "the postgres user cannot reach $dir (a parent directory closed to others?): choose another QIANBIAO_VAR_DIR"
    return 1
  }
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "PostgreSQL: initdb, a new cluster in $dir/data"
    runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
      --locale=C.UTF-8 >/dev/null
  fi
  if runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    port="$(sed -n 4p "$dir/data/postmaster.pid")"
    log "PostgreSQL is already running on $dir (left by an earlier run): using it"
  else
    port_free "$port" || { log "port $port is busy: cannot start PostgreSQL"; return 1; }
    runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -w -l "$dir/log" \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $*" start >/dev/null
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/qianbiao"
  if [ -z "$(runuser -u postgres -- "$bindir/psql" -h 127.0.0.1 -p "$port" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'qianbiao'")" ]; then
    runuser -u postgres -- "$bindir/createdb" -h 127.0.0.1 -p "$port" qianbiao
  fi
  log "PostgreSQL $(basename "$(dirname "$bindir")") on 127.0.0.1:$port ($dir)"
}

_pg_down() {  # _pg_down DIR: a fast shutdown (open transactions roll back)
  [ -f "$1/data/PG_VERSION" ] || return 0
  runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

# A throw-away cluster for one test run, durability off; sets PG_DATA_DIR and DATABASE_URL.
pg_start() {
  PG_DATA_DIR="$(mktemp -d /tmp/qianbiao-pg.XXXXXX)"
  export PG_DATA_DIR
  _pg_up "$1" "$PG_DATA_DIR" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=200
}

pg_stop() {
  [ -n "${PG_DATA_DIR:-}" ] && [ -d "$PG_DATA_DIR/data" ] || return 0
  _pg_down "$PG_DATA_DIR"
  rm -rf "$PG_DATA_DIR"
}

# bin/run's cluster: kept across runs in DIR (durable, default settings).
pg_start_persistent() { _pg_up "$1" "$2"; }  # pg_start_persistent PORT DIR
pg_stop_persistent() { _pg_down "$1"; }      # pg_stop_persistent DIR

# Redis on loopback (Debian's redis-server does not start itself here), its files,
# pid and unix socket in DIR. Sets REDIS_URL (database 0).
#   _redis_up PORT DIR [SERVER OPTIONS...]
_redis_up() {
  local port="$1" dir="$2"
  shift 2
  apt_install redis-server
  mkdir -p "$dir"
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null \
    && redis-cli -p "$port" ping >/dev/null 2>&1; then
    log "Redis is already running on $dir (left by an earlier run): using it"
  else
    port_free "$port" || { log "port $port is busy: cannot start Redis"; return 1; }
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --unixsocket "$dir/redis.sock" \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export REDIS_URL="redis://127.0.0.1:$port/0"
  log "Redis on 127.0.0.1:$port ($dir)"
}

_redis_down() {  # _redis_down DIR
  [ -f "$1/redis.pid" ] || return 0
  local pid
  pid="$(cat "$1/redis.pid")"
  kill "$pid" 2>/dev/null || true
  # Wait for it to go: it may still be writing into the directory.
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

# A throw-away Redis for one test run, nothing saved; sets REDIS_DIR and REDIS_URL.
redis_start() {
  REDIS_DIR="$(mktemp -d /tmp/qianbiao-redis.XXXXXX)"
  export REDIS_DIR
  _redis_up "$1" "$REDIS_DIR" --save '' --appendonly no
}

redis_stop() {
  [ -n "${REDIS_DIR:-}" ] && [ -f "$REDIS_DIR/redis.pid" ] || return 0
  _redis_down "$REDIS_DIR"
  rm -rf "$REDIS_DIR" || true
}

# bin/run's Redis: kept across runs in DIR, with an append-only file (as deployed), so
# queued messages survive a restart.
redis_start_persistent() { _redis_up "$1" "$2" --save '' --appendonly yes; }  # PORT DIR
redis_stop_persistent() { _redis_down "$1"; }                                # DIR

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
