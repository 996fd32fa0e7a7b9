#!/usr/bin/env bash
# The packages as a team that imports one module gets them: pack @strata/base and @strata/tasks
# (built), install the tarballs into an empty folder outside the workspace next to nothing but
# the registry's packages (typeorm and pg are the application's own dependencies), migrate a
# fresh server database with the package's own CLI, and run consumer/app.js: enqueue, claim and
# complete a task through @strata/tasks' public API.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${CONSUMER_SERVER_URL:-postgres://postgres@127.0.0.1:5432}

npx nx run-many -t build --projects=@strata/base,@strata/tasks --output-style=static

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-consumer-XXXXXX")
db="strata_consumer_$(date +%s)_$$"
cleanup() {
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/packs"
npm pack --silent --pack-destination "$work/packs" -w @strata/base -w @strata/tasks >/dev/null
cp .ci/consumer/package.json .ci/consumer/app.js "$work/"
cd "$work"
npm install --no-audit --no-fund --loglevel=error ./packs/strata-base-*.tgz ./packs/strata-tasks-*.tgz
# Only the tarballs are Strata: nothing came from a registry under that name.
if grep -q '"resolved": "http.*@strata/' package-lock.json; then
  echo "consumer: a @strata package came from a registry" >&2
  exit 1
fi

psql "$server/postgres" -qc "CREATE DATABASE $db"
DATABASE_URL="$server/$db" npx strata-module migrate --package node_modules/@strata/tasks
DATABASE_URL="$server/$db" npx strata-module status --package node_modules/@strata/tasks
DATABASE_URL="$server/$db" node app.js
