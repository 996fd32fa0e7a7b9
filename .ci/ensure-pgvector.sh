#!/usr/bin/env bash
# Make sure the pgvector extension is available to the PostgreSQL server on
# 127.0.0.1:5432. Debian 12 does not package pgvector, so when it is missing we
# build Debian 13 (trixie)'s pgvector source against the server's own headers.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
SRC_LIST=/etc/apt/sources.list.d/strata-trixie-src.sources
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# psql printing bare values, without NOTICEs.
sql() {
  PGOPTIONS='-c client_min_messages=warning' \
    psql -h 127.0.0.1 -p 5432 -U postgres -d "${2:-postgres}" -XAtqc "$1"
}

"$(dirname "$0")/ensure-postgres.sh"

major=$(($(sql 'SHOW server_version_num') / 10000))
have=$(sql "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
if [ -n "$have" ]; then
  echo "ensure-pgvector: pgvector $have is present (PostgreSQL $major)"
  exit 0
fi

start=$SECONDS
echo "ensure-pgvector: pgvector missing for PostgreSQL $major; building it from Debian trixie's source"

# trixie's Release files are signed with keys that bookworm's keyring package
# only gained in a point release; upgrade it from bookworm if it is too old.
if [ ! -e /usr/share/keyrings/debian-archive-trixie-automatic.gpg ]; then
  quietly apt-get update
  quietly apt-get install -y debian-archive-keyring
fi

# Source-only entry: no trixie Packages index, so apt can never pick trixie
# binaries (no pinning needed). Skipped if apt already has trixie sources.
# shellcheck disable=SC2016 # $(RELEASE) is apt's format field, not a shell expansion
if [ ! -e "$SRC_LIST" ] &&
  ! apt-get indextargets --format '$(RELEASE)' 'Created-By: Sources' | grep -qx trixie; then
  cat >"$SRC_LIST" <<EOF
# Added by Strata's .ci/ensure-pgvector.sh: source packages only, for pgvector.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: $KEYRING
EOF
fi

apt-get update -qq
quietly apt-get install -y --no-install-recommends \
  "postgresql-server-dev-$major" build-essential dpkg-dev

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Owned by apt's unprivileged _apt user, so apt downloads without a sandbox warning.
chown _apt "$work" 2>/dev/null || true
# Quiet: apt verified the files against trixie's signed Release, so dpkg-source's
# warning that it cannot check the .dsc signature is noise.
(cd "$work" && quietly apt-get source pgvector/trixie)
srcdir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*')

# Upstream Makefile via PGXS, for exactly this server's major version (the
# debian/ tooling would build for every installed version). OPTFLAGS= keeps
# -march=native out, as Debian's own patch does, so the build is portable.
mk=(make -C "$srcdir" USE_PGXS=1 "PG_CONFIG=/usr/lib/postgresql/$major/bin/pg_config" OPTFLAGS=)
quietly "${mk[@]}" -j"$(nproc)"
quietly "${mk[@]}" install

# Prove it loads: create it in a scratch database, use it, drop the database.
db=strata_pgvector_check
sql "DROP DATABASE IF EXISTS $db"
sql "CREATE DATABASE $db"
ver=$(sql "CREATE EXTENSION IF NOT EXISTS vector;
  SELECT extversion FROM pg_extension
  WHERE extname = 'vector' AND '[1,2,3]'::vector <-> '[1,2,4]'::vector = 1" "$db")
sql "DROP DATABASE $db"
[ -n "$ver" ] || { echo "ensure-pgvector: the vector extension does not work" >&2; exit 1; }
echo "ensure-pgvector: installed pgvector $ver for PostgreSQL $major in $((SECONDS - start))s"
