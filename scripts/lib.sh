# shellcheck shell=bash
# scripts/lib.sh — shared functions of the operations scripts (up, down, check)
# and the benchmarks. Sourced, never executed.
#
# A local stack lives in one *state directory* STATE, and nothing of it lives
# anywhere else:
#   STATE/aispm.conf        the app's configuration (written by scripts/up)
#   STATE/mysql/            MariaDB data directory
#   STATE/run/              sockets, pid files: mysqld.sock mysqld.pid mysqld.port
#                           aispm.sock aispm.pid
#   STATE/logs/             mariadb.err aispm.log nginx-error.log nginx-access.log
#                           and one log per scripts/up step
#   STATE/nginx/            rendered nginx.conf and site, nginx.pid, temp folders
#   STATE/secrets/ (0700)   db_password
#   STATE/keys/    (0700)   evidence signing key
#   STATE/tmp/              MariaDB's tmpdir
#
# Processes are started in their own session (so a Ctrl-C or a closed terminal
# does not reach them) and found again through their pid files, so scripts/up
# and scripts/down may run from different shells. A pid file only counts when
# its process is alive *and* its command line (or environment) names this
# STATE, so a stale file whose pid was reused never makes us signal a stranger.
#
# Functions print what went wrong (with the tail of the relevant log) and
# return non-zero; they do not exit. Callers run with `set -euo pipefail`.

AISPM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages to build, run and test the project. Later work adds to this
# list; ensure_packages installs whatever is missing.
AISPM_PACKAGES=(
    # build
    build-essential cmake pkg-config
    libfcgi-dev libjson-c-dev libmariadb-dev libgnutls28-dev libxml2-dev
    libxmlsec1-dev libcmocka-dev libargon2-dev libcurl4-gnutls-dev
    libxlsxwriter-dev zlib1g-dev libzip-dev libcairo2-dev libpango1.0-dev
    # run
    mariadb-server mariadb-client nginx curl ca-certificates fonts-dejavu-core tzdata
    # test
    python3 python3-jsonschema python3-aiosmtpd python3-pytest openssl
    python3-openpyxl python3-docx unzip poppler-utils xmlsec1 libxml2-utils
    chromium nodejs npm
    qpdf
)

: "${AISPM_BIN:=$AISPM_REPO/build/aispm}"
: "${NGINX_BIN:=/usr/sbin/nginx}"
: "${MARIADBD_BIN:=/usr/sbin/mariadbd}"
AISPM_MARIADB_CNF=$AISPM_REPO/conf/mariadb/aispm-local.cnf

# --- Output ------------------------------------------------------------------

aispm_step() { printf '==> %s\n' "$*"; }
aispm_info() { printf '    %s\n' "$*"; }
aispm_warn() { printf 'warning: %s\n' "$*" >&2; }
aispm_error() { printf 'error: %s\n' "$*" >&2; }

# tail_log FILE [LINES]: show the end of a log, to explain a failure.
tail_log() {
    local file=$1 lines=${2:-40}
    [[ -n $file && -s $file ]] || return 0
    printf -- '---- last %s lines of %s ----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf -- '----\n' >&2
}

# run_logged LOG CMD...: run an external command with its output appended to
# LOG; on failure show the log's tail. A shell function passed here must chain
# its commands with && itself: `set -e` does not apply inside it.
run_logged() {
    local log=$1 rc=0
    shift
    mkdir -p "$(dirname "$log")"
    printf '\n$ %s\n' "$*" >>"$log"
    "$@" >>"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
        aispm_error "'$*' failed (exit $rc); full log: $log"
        tail_log "$log"
    fi
    return "$rc"
}

# --- Packages ------------------------------------------------------------------

_aispm_apt_updated=0

# pkg_installed NAME: true if the package, or an installed package providing it,
# is installed (NodeSource's nodejs provides npm, for example, and Debian's npm
# would conflict with it).
pkg_installed() {
    local name=$1
    # shellcheck disable=SC2016  # dpkg-query format, not shell expansion
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$name" 2>/dev/null) == installed ]] && return 0
    # shellcheck disable=SC2016
    dpkg-query -W -f='${db:Status-Status}\t${Provides}\n' 2>/dev/null |
        awk -F'\t' -v want="$name" '
            $1 == "installed" {
                n = split($2, provided, /, */)
                for (i = 1; i <= n; i++) { sub(/ .*/, "", provided[i]); if (provided[i] == want) found = 1 }
            }
            END { exit !found }'
}

# ensure_packages: install whichever of AISPM_PACKAGES are missing.
# AISPM_SKIP_PACKAGES=1 skips the check (offline work).
ensure_packages() {
    [[ ${AISPM_SKIP_PACKAGES:-0} == 1 ]] && return 0
    local pkg missing=() sudo=()
    for pkg in "${AISPM_PACKAGES[@]}"; do
        pkg_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        aispm_info "all ${#AISPM_PACKAGES[@]} packages installed"
        return 0
    fi
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null; then
            aispm_error "missing packages and no sudo to install them: ${missing[*]}"
            return 1
        fi
        sudo=(sudo)
    fi
    aispm_info "installing: ${missing[*]}"
    local log rc=0
    log=$(mktemp "${TMPDIR:-/tmp}/aispm-apt.XXXXXX.log")
    if ((_aispm_apt_updated == 0)); then
        "${sudo[@]}" apt-get update >>"$log" 2>&1 || rc=$?
        ((rc == 0)) && _aispm_apt_updated=1
    fi
    ((rc == 0)) && { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || rc=$?; }
    if ((rc != 0)); then
        aispm_error "package installation failed (log: $log)"
        tail_log "$log"
        return 1
    fi
    rm -f "$log"
}

# --- Build -------------------------------------------------------------------------

# build BUILD_DIR [--sanitize] [CMAKE_ARGS...]: configure and build the project;
# --sanitize builds with ASan+UBSan (-DAISPM_SANITIZE=ON).
build() {
    local dir=$1 sanitize=OFF
    shift
    if [[ ${1:-} == --sanitize ]]; then
        sanitize=ON
        shift
    fi
    cmake -S "$AISPM_REPO" -B "$dir" -DAISPM_SANITIZE="$sanitize" "$@" &&
        cmake --build "$dir" -j "$(nproc)"
}

# --- Processes, ports, sockets -------------------------------------------------------

# free_port: print a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# pid_running PID: the process exists and is not a zombie waiting to be reaped
# (some container inits reap late).
pid_running() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# live_pid PIDFILE MARKER: print the pid in PIDFILE if that process is alive and
# its command line or environment contains MARKER (a path unique to the stack;
# the environment still holds it if a process rewrites its title).
live_pid() {
    local pidfile=$1 marker=$2 pid ident
    [[ -r $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile")
    [[ -n $pid ]] || return 1
    pid_running "$pid" || return 1
    ident=$(cat "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null | tr '\0' ' ') || true
    [[ $ident == *"$marker"* ]] || return 1
    printf '%s\n' "$pid"
}

# wait_for_exit PID TIMEOUT_S: true once PID is gone, false on timeout.
wait_for_exit() {
    local pid=$1 deadline=$((SECONDS + $2))
    while pid_running "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# stop_pid NAME PID TIMEOUT_S [SIGNAL]: send SIGNAL (default TERM), wait, and
# SIGKILL the process group as a last resort (our processes lead their own).
stop_pid() {
    local name=$1 pid=$2 timeout=$3 sig=${4:-TERM} pgid
    kill -"$sig" "$pid" 2>/dev/null || return 0
    wait_for_exit "$pid" "$timeout" && return 0
    aispm_warn "$name (pid $pid) still running after ${timeout}s; killing it"
    pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
    if [[ $pgid == "$pid" ]]; then
        kill -KILL -- "-$pid" 2>/dev/null
    else
        kill -KILL "$pid" 2>/dev/null
    fi
    wait_for_exit "$pid" 5 || true
}

# wait_for_socket PATH TIMEOUT_S [LOG] [PID]: wait until PATH is a unix socket.
# Fails early if PID exits first; on failure shows LOG's tail.
wait_for_socket() {
    local path=$1 timeout=$2 log=${3:-} pid=${4:-} deadline=$((SECONDS + $2))
    while [[ ! -S $path ]]; do
        if [[ -n $pid ]] && ! pid_running "$pid"; then
            aispm_error "process $pid exited before creating $path"
            tail_log "$log"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            aispm_error "timed out after ${timeout}s waiting for socket $path"
            tail_log "$log"
            return 1
        fi
        sleep 0.1
    done
}

# wait_for_http URL TIMEOUT_S [LOG...]: wait until URL answers 200; on timeout
# report the last status and show each LOG's tail.
wait_for_http() {
    local url=$1 timeout=$2 code deadline=$((SECONDS + $2)) log
    shift 2
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url") || code=000
        [[ $code == 200 ]] && return 0
        if ((SECONDS >= deadline)); then
            aispm_error "timed out after ${timeout}s waiting for 200 from $url (last status: $code)"
            for log in "$@"; do tail_log "$log" 20; done
            return 1
        fi
        sleep 0.2
    done
}

# check_socket_path PATH: unix socket paths are limited to 107 bytes.
check_socket_path() {
    if ((${#1} > 100)); then
        aispm_error "socket path too long for a unix socket (${#1} bytes): $1; use a shorter --state"
        return 1
    fi
}

# --- MariaDB -----------------------------------------------------------------------------

# The database account of the invoking OS user: mariadb-install-db with
# --auth-root-authentication-method=socket creates root@localhost and
# <user>@localhost, both authenticated by the unix socket's peer uid.
mariadb_admin_user() { id -un; }

# mariadb_client STATE [ARGS...]: the mariadb command-line client on STATE's server.
mariadb_client() {
    local state=$1
    shift
    mariadb --no-defaults --socket="$state/run/mysqld.sock" -u "$(mariadb_admin_user)" "$@"
}

# mariadb_start STATE: initialise STATE/mysql if needed and start a private
# mariadbd on STATE/run/mysqld.sock and a free loopback port (written to
# STATE/run/mysqld.port). Does nothing if it is already running.
mariadb_start() {
    local state=$1 pid port user_opt=() deadline
    local datadir=$state/mysql sock=$state/run/mysqld.sock pidfile=$state/run/mysqld.pid
    local errlog=$state/logs/mariadb.err
    check_socket_path "$sock" || return 1
    mkdir -p "$state/run" "$state/logs" "$state/tmp"

    if pid=$(live_pid "$pidfile" "--datadir=$datadir"); then
        aispm_info "MariaDB already running (pid $pid)"
        return 0
    fi

    if [[ ! -d $datadir ]]; then
        # Initialise into a scratch folder and rename it on success, so an
        # interrupted run never leaves a half-made datadir that looks complete.
        rm -rf "$datadir.init"
        aispm_info "initialising $datadir"
        if ! mariadb-install-db --defaults-file="$AISPM_MARIADB_CNF" --datadir="$datadir.init" \
            --user="$(id -un)" --auth-root-authentication-method=socket --skip-test-db \
            >>"$state/logs/mariadb-install.log" 2>&1; then
            aispm_error "mariadb-install-db failed"
            tail_log "$state/logs/mariadb-install.log"
            return 1
        fi
        mv "$datadir.init" "$datadir"
    fi

    ((EUID == 0)) && user_opt=(--user=root)
    port=$(free_port) || return 1
    rm -f "$sock" "$pidfile"
    setsid -w "$MARIADBD_BIN" --defaults-file="$AISPM_MARIADB_CNF" "${user_opt[@]}" \
        --datadir="$datadir" --socket="$sock" --port="$port" --bind-address=127.0.0.1 \
        --pid-file="$pidfile" --log-error="$errlog" --tmpdir="$state/tmp" \
        </dev/null >>"$state/logs/mariadb.out" 2>&1 &
    pid=$!
    printf '%s\n' "$port" >"$state/run/mysqld.port"
    wait_for_socket "$sock" 60 "$errlog" "$pid" || return 1
    deadline=$((SECONDS + 60))
    until mariadb_client "$state" -N -e 'SELECT 1' >/dev/null 2>&1; do
        if ((SECONDS >= deadline)) || ! pid_running "$pid"; then
            aispm_error "MariaDB does not answer on $sock"
            tail_log "$errlog"
            return 1
        fi
        sleep 0.2
    done
    aispm_info "MariaDB started (socket $sock, port $port)"
}

# mariadb_stop STATE: shut STATE's mariadbd down cleanly, if it runs.
mariadb_stop() {
    local state=$1 pid
    pid=$(live_pid "$state/run/mysqld.pid" "--datadir=$state/mysql") || {
        aispm_info "MariaDB not running"
        return 0
    }
    stop_pid mariadbd "$pid" 120
    aispm_info "MariaDB stopped"
}

# --- Application ------------------------------------------------------------------------

# app_start STATE: run `aispm -c STATE/aispm.conf serve` in the background,
# logging to STATE/logs/aispm.log. If it already runs, SIGHUP it (re-read
# configuration and templates); if its binary was rebuilt since it started,
# restart it instead, since forked workers would keep running the old code.
app_start() {
    local state=$1 pid exe
    local conf=$state/aispm.conf pidfile=$state/run/aispm.pid sock=$state/run/aispm.sock
    local log=$state/logs/aispm.log
    check_socket_path "$sock" || return 1
    mkdir -p "$state/run" "$state/logs"

    if pid=$(live_pid "$pidfile" "$conf"); then
        exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
        if [[ $exe == *" (deleted)" ]]; then
            aispm_info "aispm binary was rebuilt: restarting (pid $pid)"
            app_stop "$state"
        else
            kill -HUP "$pid"
            aispm_info "aispm already running (pid $pid): sent SIGHUP to reload"
            return 0
        fi
    fi

    rm -f "$sock"
    AISPM_STACK_CONF=$conf setsid -w "$AISPM_BIN" -c "$conf" serve </dev/null >>"$log" 2>&1 &
    pid=$!
    wait_for_socket "$sock" 30 "$log" "$pid" || return 1
    # `serve` writes pid_file itself; fall back to the pid we started.
    [[ -s $pidfile ]] || printf '%s\n' "$pid" >"$pidfile"
    aispm_info "aispm started (pid $(tr -dc '0-9' <"$pidfile"), socket $sock)"
}

# app_stop STATE: SIGTERM `aispm serve` (it drains in-flight requests) and wait.
app_stop() {
    local state=$1 pid
    pid=$(live_pid "$state/run/aispm.pid" "$state/aispm.conf") || {
        aispm_info "aispm not running"
        return 0
    }
    stop_pid aispm "$pid" 40
    rm -f "$state/run/aispm.sock" "$state/run/aispm.pid"
    aispm_info "aispm stopped"
}

# --- nginx ----------------------------------------------------------------------------------

# _sed_escape VALUE: VALUE made safe as a sed replacement (delimiter |).
_sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# nginx_render STATE PORT STATIC_DIR SOCKET [LISTEN_ADDR]: write STATE/nginx/
# nginx.conf and aispm-site.conf from the templates in conf/nginx/.
nginx_render() {
    local state=$1 port=$2 static=$3 socket=$4 addr=${5:-127.0.0.1}
    local dir=$state/nginx value sub=() user_filter=()
    for value in "$state" "$static" "$socket"; do
        if [[ $value =~ [[:space:]\;\'\"\{\}\$\\] ]]; then
            aispm_error "path unusable in nginx configuration (space, quote or special character): $value"
            return 1
        fi
    done
    mkdir -p "$dir"/{client_body,fastcgi,proxy,uwsgi,scgi}_temp "$state/logs"
    cp /etc/nginx/mime.types /etc/nginx/fastcgi_params "$dir/"
    sub=(-e "s|@STATE@|$(_sed_escape "$state")|g"
        -e "s|@USER@|$(_sed_escape "$(id -un)")|g"
        -e "s|@GROUP@|$(_sed_escape "$(id -gn)")|g"
        -e "s|@PORT@|$(_sed_escape "$port")|g"
        -e "s|@LISTEN_ADDR@|$(_sed_escape "$addr")|g"
        -e "s|@STATIC_DIR@|$(_sed_escape "${static%/}")|g"
        -e "s|@SOCKET@|$(_sed_escape "$socket")|g")
    # The `user` directive only means something to a master started by root.
    ((EUID == 0)) || user_filter=(-e '/^user /d')
    sed "${sub[@]}" "${user_filter[@]}" "$AISPM_REPO/conf/nginx/nginx-local.conf.template" \
        >"$dir/nginx.conf.new" &&
        sed "${sub[@]}" "$AISPM_REPO/conf/nginx/aispm-site.conf.template" >"$dir/aispm-site.conf.new" || return 1
    mv "$dir/nginx.conf.new" "$dir/nginx.conf"
    mv "$dir/aispm-site.conf.new" "$dir/aispm-site.conf"
}

# nginx_start STATE PORT STATIC_DIR SOCKET [LISTEN_ADDR]: render the
# configuration, test it, and start nginx, or reload it if it already runs.
nginx_start() {
    local state=$1 port=$2 pid out
    local dir=$state/nginx conf=$state/nginx/nginx.conf log=$state/logs/nginx-error.log
    nginx_render "$@" || return 1
    if ! out=$("$NGINX_BIN" -q -t -p "$dir/" -c "$conf" 2>&1); then
        aispm_error "nginx configuration test failed:"
        printf '%s\n' "$out" >&2
        return 1
    fi
    if pid=$(live_pid "$dir/nginx.pid" "$conf"); then
        kill -HUP "$pid"
        aispm_info "nginx already running (pid $pid): reloaded"
        return 0
    fi
    rm -f "$dir/nginx.pid"
    # nginx daemonizes itself (new session, pid file) once it listens.
    if ! out=$("$NGINX_BIN" -p "$dir/" -c "$conf" 2>&1 </dev/null); then
        aispm_error "nginx failed to start: $out"
        tail_log "$log"
        return 1
    fi
    pid=$(live_pid "$dir/nginx.pid" "$conf") || {
        aispm_error "nginx did not stay up"
        tail_log "$log"
        return 1
    }
    aispm_info "nginx started (pid $pid, http://127.0.0.1:$port/)"
}

# nginx_stop STATE: graceful stop (SIGQUIT lets open requests finish).
nginx_stop() {
    local state=$1 pid
    pid=$(live_pid "$state/nginx/nginx.pid" "$state/nginx/nginx.conf") || {
        aispm_info "nginx not running"
        return 0
    }
    stop_pid nginx "$pid" 15 QUIT
    aispm_info "nginx stopped"
}
