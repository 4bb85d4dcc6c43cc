#!/usr/bin/env bash
# Build the VoorZorg FHIR package: FSH (input/fsh) -> FHIR JSON with snapshots (fsh-generated/).
# Usage: bash profiles/scripts/build.sh [output-dir]   (default: profiles/, i.e. profiles/fsh-generated)
set -euo pipefail

PROFILES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$PROFILES_DIR/scripts/setup-core.sh"
cd "$PROFILES_DIR"
OUT="${1:-.}"
# SUSHI exits non-zero when the build has errors (its exit code is the error count).
# The same as `npx sushi build --snapshot .`, with the locally installed SUSHI.
./node_modules/.bin/sushi build --snapshot -o "$OUT" .
# SUSHI also writes fsh-generated/data/fsh-index.json (for the IG Publisher). The repository's
# .gitignore ignores data/, and fsh-index.txt holds the same index, so drop it: the committed
# tree and a fresh build then have the same files.
rm -rf "$OUT/fsh-generated/data"
