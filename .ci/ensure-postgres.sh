#!/usr/bin/env bash
# Make sure a PostgreSQL (>= 15) server answers on 127.0.0.1:5432 for user
# postgres with trust auth. Silent when it already does; otherwise starts the
# Debian cluster, or installs Debian's postgresql first, and says so in one line.
set -euo pipefail

HOST=127.0.0.1 PORT=5432 MIN_MAJOR=15
export DEBIAN_FRONTEND=noninteractive

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ready() { pg_isready -q -h "$HOST" -p "$PORT" >/dev/null 2>&1; }

wait_ready() {
  for _ in $(seq 60); do ready && return 0; sleep 0.5; done
  echo "ensure-postgres: server did not become ready on $HOST:$PORT" >&2
  exit 1
}

# Newest Debian cluster on our port, as "version name status"; empty if none.
find_cluster() {
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h | awk -v p="$PORT" '$3 == p { print $1, $2, $4 }' | sort -V | tail -n 1
}

# Put "host all all ADDR trust" ahead of the other host lines (pg_hba.conf is
# first-match), unless that exact rule is already there.
trust_loopback() {
  local hba=/etc/postgresql/$1/$2/pg_hba.conf addr changed=1
  for addr in ::1/128 127.0.0.1/32; do # each goes on top, so 127.0.0.1 ends first
    grep -Eq "^host[[:space:]]+all[[:space:]]+all[[:space:]]+${addr//./\\.}[[:space:]]+trust" "$hba" && continue
    awk -v l="host    all    all    $addr    trust" \
      '!done && /^host/ { print l; done = 1 } { print } END { if (!done) print l }' "$hba" >"$hba.new"
    cat "$hba.new" >"$hba" && rm -f "$hba.new" # keep the file's owner and mode
    changed=0
  done
  return $changed
}

ready && exit 0

action=started
if [ -z "$(find_cluster)" ]; then
  quietly apt-get update
  # Recommends would drag in a mail server and sysstat; the server needs neither.
  quietly apt-get install -y --no-install-recommends postgresql
  action="installed Debian's postgresql and started"
  # postgresql-common normally creates "main"; cover create_main_cluster=false.
  # shellcheck disable=SC2012 # the entries are plain version numbers
  [ -n "$(find_cluster)" ] || quietly pg_createcluster -p "$PORT" "$(ls /usr/lib/postgresql | sort -V | tail -n 1)" main
fi

read -r ver name status <<<"$(find_cluster)"
if [ "${ver%%.*}" -lt "$MIN_MAJOR" ]; then
  echo "ensure-postgres: cluster $ver/$name is older than PostgreSQL $MIN_MAJOR" >&2
  exit 1
fi

# Tests connect over TCP as postgres without a password.
hba_changed=false
trust_loopback "$ver" "$name" && hba_changed=true

if [ "$status" = online ]; then
  # Running but not answering yet (or just installed and auto-started).
  $hba_changed && pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
else
  pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
fi
wait_ready
echo "ensure-postgres: $action PostgreSQL cluster $ver/$name on $HOST:$PORT"
