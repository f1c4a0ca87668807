#!/usr/bin/env bash
# Herald's two set-up commands live here, so that README, CI and a newcomer all run the same thing.
#
#   ./herald.sh run    installs what is missing, starts a private PostgreSQL (when DATABASE_URL is
#                      unset), migrates, imports the demo district, starts maildev, the server and
#                      one worker, and prints the URLs and demo sign-ins.
#   ./herald.sh test   installs what is missing, starts the same private PostgreSQL, and runs every
#                      test: fmt, clippy, the sqlx offline-data check, unit and Postgres integration
#                      tests, the end-to-end tests in headless Chromium, and each benchmark once at
#                      a small scale (so that a change which breaks one fails here).
#
#   ./herald.sh bench [NAME...]  the benchmarks behind README's figures, full size (release
#                      build; slow): import, pipeline (with its memory run), dialer, portal,
#                      reports, bundle (what a parent downloads); all of them without a NAME.
#
# Every install step checks first and skips what is already there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR="$ROOT/target/pg"
PG_PORT=${HERALD_PG_PORT:-55432}
WASM_BINDGEN_VERSION=0.2.117
SQLX_CLI_VERSION=0.8.6
export PATH="$HOME/.cargo/bin:$PATH"
# A CI clone is built once and thrown away: incremental caches would only take disk (a third of it).
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
# The SMTP password and the provider token are stored sealed with HERALD__SECRETS__KEY (32 random
# bytes in base64). A deployment sets its own; here a development key is made once under target/.
if [ -z "${HERALD__SECRETS__KEY:-}" ]; then
  if [ ! -s "$ROOT/target/dev-secrets-key" ]; then
    mkdir -p "$ROOT/target"
    (umask 077 && head -c 32 /dev/urandom | base64 > "$ROOT/target/dev-secrets-key")
  fi
  HERALD__SECRETS__KEY=$(cat "$ROOT/target/dev-secrets-key")
  export HERALD__SECRETS__KEY
fi

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  # apt_install PACKAGE... : installs the Debian packages that are not installed yet.
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_system() {
  [ -x "$PG_BIN/postgres" ] || apt_install postgresql-15
}

ensure_rust_tools() {
  rustup target list --installed | grep -q wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (cargo-leptos cannot download it here)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked --debug
  fi
  if ! command -v cargo-leptos >/dev/null; then
    log "installing cargo-leptos (needs a nightly rustc to build; --debug keeps it quick)"
    rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
    cargo +nightly install cargo-leptos --locked --debug
  fi
  if ! sqlx --version 2>/dev/null | grep -q "$SQLX_CLI_VERSION"; then
    log "installing sqlx-cli $SQLX_CLI_VERSION"
    cargo install sqlx-cli --version "$SQLX_CLI_VERSION" --locked --debug \
      --no-default-features --features postgres,rustls
  fi
}

ensure_wasm_opt() {
  # Release builds run wasm-opt -Oz. cargo-leptos uses the first wasm-opt on PATH (it would
  # otherwise download binaryen from GitHub, which cannot work here); npm's binaryen package
  # (end2end/package.json) ships one that runs on Node, so nothing is compiled for it.
  ensure_npm
  export PATH="$ROOT/end2end/node_modules/binaryen/bin:$PATH"
}

ensure_npm() {
  # end2end/ holds Playwright (driving Debian's Chromium) and maildev (the SMTP server with a web UI).
  if [ ! -d end2end/node_modules ] || [ end2end/package-lock.json -nt end2end/node_modules ]; then
    log "installing end2end npm packages"
    (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

ensure_chromium() { [ -x /usr/bin/chromium ] || apt_install chromium; }

pg() {
  # Runs a PostgreSQL binary as the postgres user when we are root (initdb and postgres refuse root).
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  # With DATABASE_URL set we use that server; otherwise a private cluster under target/pg.
  if [ -n "${DATABASE_URL:-}" ]; then return 0; fi
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DIR"; fi
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $PG_DIR"
    pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
      -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min" \
      start >/dev/null
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/herald"
}

create_database() {
  sqlx database create
  sqlx migrate run --source worker/core/migrations
}

cmd_test() {
  ensure_system
  ensure_rust_tools
  ensure_chromium
  ensure_npm
  start_postgres
  create_database
  log "format and lint (server and browser builds)"
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets -- -D warnings
  cargo clippy -p herald-app --features hydrate --target wasm32-unknown-unknown -- -D warnings
  log "sqlx offline data (.sqlx/) matches the queries"
  cargo sqlx prepare --workspace --check -- --all-targets
  log "unit and PostgreSQL integration tests"
  local out="$ROOT/target/test-output"
  mkdir -p "$out"
  cargo test --workspace --lib --bins --tests 2>&1 | tee "$out/cargo.log"
  log "end-to-end tests in headless Chromium"
  run_e2e 2>&1 | tee "$out/e2e.log"
  log "each benchmark once, small (figures not measured; see ./herald.sh bench)"
  cargo test -p herald-core --bench figures
  # One closing line for the whole suite: Rust tests plus Playwright tests.
  local rust e2e
  rust=$(awk '/^test result: ok\./ { n += $4 } END { print n + 0 }' "$out/cargo.log")
  e2e=$(sed -n 's/^ *\([0-9]*\) passed (.*/\1/p' "$out/e2e.log" | tail -n 1)
  echo "herald: $((rust + ${e2e:-0})) passed, 0 failed"
}

start_stack() {
  # start_stack BIN_DIR LOG_DIR SERVER_PORT SMTP_PORT MAIL_WEB_PORT VOICE_PORT [VAR=value...]
  # Starts maildev, the local voice provider, one worker (with the VAR=value pairs in its
  # environment) and the server from BIN_DIR against $DATABASE_URL, and waits until the server
  # answers. stop_stack ends them all.
  local bin=$1 logs=$2 server=$3 smtp=$4 web=$5 voice=$6
  shift 6
  STACK_PIDS=()
  "$ROOT/end2end/node_modules/.bin/maildev" --smtp "$smtp" --web "$web" --ip 127.0.0.1 --web-ip 127.0.0.1 \
    >"$logs/maildev.log" 2>&1 &
  STACK_PIDS+=($!)
  "$bin/herald-worker" voice-provider --listen "127.0.0.1:$voice" >"$logs/voice-provider.log" 2>&1 &
  STACK_PIDS+=($!)
  env "$@" "$bin/herald-worker" run \
    >"$logs/worker.log" 2>&1 &
  STACK_PIDS+=($!)
  # SERVER_OPS_LISTEN, when set, is the server's ops listener (Prometheus /metrics).
  env ${SERVER_OPS_LISTEN:+HERALD__OPS__LISTEN="$SERVER_OPS_LISTEN"} \
    LEPTOS_SITE_ADDR="127.0.0.1:$server" LEPTOS_SITE_ROOT=target/site "$bin/herald-server" \
    >"$logs/server.log" 2>&1 &
  local server_pid=$!
  STACK_PIDS+=("$server_pid")
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$server/sign-in" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "the Herald server did not start:" >&2
  tail -n 20 "$logs/server.log" >&2
  return 1
}

stop_stack() {
  [ ${#STACK_PIDS[@]} -eq 0 ] && return 0
  kill "${STACK_PIDS[@]}" 2>/dev/null || true
  wait "${STACK_PIDS[@]}" 2>/dev/null || true
  STACK_PIDS=()
}
STACK_PIDS=()

load_demo() {
  # load_demo BIN_DIR DEMO_DIR VOICE_PORT SERVER_URL|- [demo options...]: generates the demo
  # district into DEMO_DIR unless it is there, imports it into $DATABASE_URL, creates its
  # sign-ins (printed on stdout) and points the dialer at the local voice provider. Its status
  # callbacks come back to the portal URL's site: SERVER_URL sets that (- keeps the saved one).
  local bin=$1 demo=$2 voice=$3 server=$4
  shift 4
  [ -f "$demo/users.csv" ] || "$bin/herald-worker" demo --out "$demo" "$@" >/dev/null
  "$bin/herald-worker" import "$demo" >/dev/null
  "$bin/herald-worker" demo-accounts
  local site=()
  [ "$server" = - ] || site=(--server-url "$server")
  "$bin/herald-worker" demo-dialer --api-url "http://127.0.0.1:$voice" "${site[@]}" >/dev/null
}

run_e2e() {
  # A fresh database with the demo district, a debug build of the site, the stack on ports of
  # its own (the server on :3100), then Playwright; the stack is stopped however the tests end.
  # The rosters the import tests upload are zipped by end2end/tests/rosters.ts.
  local dir="$ROOT/target/e2e" bin="$ROOT/target/debug"
  rm -rf "$dir" && mkdir -p "$dir"
  # Split by route as the release is (app/src/lazy.rs), so the tests load pages the way people do.
  cargo leptos build --split
  cargo build -p herald-worker
  # From here on (not while building: sqlx checks its queries against DATABASE_URL), every
  # command works on the e2e database.
  local -x DATABASE_URL="${DATABASE_URL%/*}/herald_e2e"
  sqlx database drop -y -f >/dev/null
  sqlx database create
  load_demo "$bin" "$dir/demo" 18089 http://127.0.0.1:3100 --students 150 >/dev/null
  # The worker's SMTP host and port are pinned to maildev from the environment (an ops
  # override), whatever the Email Preferences tests save.
  trap stop_stack EXIT
  start_stack "$bin" "$dir" 3100 1125 1180 18089 \
    HERALD__SMTP__HOST=127.0.0.1 HERALD__SMTP__PORT=1125 HERALD__WORKER__POLL_MS=100
  local status=0
  (cd end2end && HERALD_E2E_URL=http://127.0.0.1:3100 HERALD_E2E_MAILDEV=http://127.0.0.1:1180 \
    HERALD_E2E_VOICE=http://127.0.0.1:18089 HERALD_E2E_DIR="$dir" npx playwright test "$@") || status=$?
  stop_stack
  if [ $status -ne 0 ]; then
    echo "--- server log ---"
    tail -n 50 "$dir/server.log"
    echo "--- worker log ---"
    tail -n 30 "$dir/worker.log"
    echo "--- voice provider log ---"
    tail -n 20 "$dir/voice-provider.log"
  fi
  return $status
}

build_release() {
  # The release site: WASM optimised for size and split by route (app/src/lazy.rs), every file
  # named by its content and precompressed (.br, .gz) for the server to send as is.
  cargo leptos build --release --split --precompress
  cargo build --release -p herald-worker
}

cmd_run() {
  ensure_system
  ensure_rust_tools
  ensure_wasm_opt
  ensure_npm
  start_postgres
  create_database
  log "building Herald (release)"
  build_release
  local bin="$ROOT/target/release" accounts
  log "importing the demo district"
  accounts=$(load_demo "$bin" "$ROOT/target/demo-district" 8089 -)
  trap stop_stack EXIT
  trap 'exit 0' INT TERM
  SERVER_OPS_LISTEN=127.0.0.1:9464 start_stack "$bin" "$ROOT/target" 3000 1025 1080 8089 \
    HERALD__OPS__LISTEN=127.0.0.1:9465
  cat <<EOF

  Herald           http://127.0.0.1:3000
  Mail (maildev)   http://127.0.0.1:1080   (SMTP on 127.0.0.1:1025)
  Voice provider   http://127.0.0.1:8089   (local; calls listed at /local/calls)
  Metrics          http://127.0.0.1:9464/metrics (server), http://127.0.0.1:9465/metrics and /healthz (worker)
  Database         $DATABASE_URL
  Logs             target/server.log, worker.log, maildev.log, voice-provider.log

  Demo sign-ins (role, email / password):
$(printf '%s\n' "$accounts" | sed 's/^/    /')

  Ctrl-C stops everything.

EOF
  wait
}

cmd_bench() {
  # The benchmarks behind README's figures (worker/core/benches/figures/main.rs says what each
  # prints); the pipeline's memory run needs the release binaries built here.
  ensure_system
  ensure_rust_tools
  ensure_wasm_opt
  ensure_npm
  start_postgres
  build_release
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || names=(import pipeline dialer portal reports bundle)
  cargo bench -p herald-core --bench figures -- "${names[@]}" memory
}

case "${1:-}" in
  run) cmd_run ;;
  test) cmd_test ;;
  bench) shift; cmd_bench "$@" ;;
  pg) start_postgres; echo "$DATABASE_URL" ;;
  e2e) shift; ensure_chromium; ensure_npm; start_postgres; run_e2e "$@" ;;
  *) echo "usage: $0 run|test  (also: bench, pg, e2e [playwright args])" >&2; exit 2 ;;
esac
