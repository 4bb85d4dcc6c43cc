#!/usr/bin/env bash
# Check that the committed profiles/fsh-generated/ is what a fresh SUSHI build of
# profiles/input/fsh produces. Builds in a temporary copy (the working tree is not touched).
# Exit 0 when in sync; exit 1 with a summary of the differences otherwise.
# Fix a failure with: bash profiles/scripts/build.sh  (then commit profiles/fsh-generated).
set -euo pipefail

PROFILES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$PROFILES_DIR/scripts/setup-core.sh" >/dev/null

TMP="$(mktemp -d "${TMPDIR:-/tmp}/voorzorg-profiles-sync.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# Copy the sources, not the generated output or node_modules (linked instead).
mkdir -p "$TMP/profiles"
(cd "$PROFILES_DIR" && tar --exclude=./node_modules --exclude=./fsh-generated -cf - .) | tar -xf - -C "$TMP/profiles"
ln -s "$PROFILES_DIR/node_modules" "$TMP/profiles/node_modules"

if ! bash "$TMP/profiles/scripts/build.sh" >"$TMP/build.log" 2>&1; then
  echo "check-sync: SUSHI build failed; log:" >&2
  cat "$TMP/build.log" >&2
  exit 1
fi

FRESH="$TMP/profiles/fsh-generated"
COMMITTED="$PROFILES_DIR/fsh-generated"
if [ ! -d "$COMMITTED" ]; then
  echo "check-sync: $COMMITTED does not exist; run: bash profiles/scripts/build.sh" >&2
  exit 1
fi

if diff -r -q "$COMMITTED" "$FRESH" >"$TMP/diff.txt" 2>&1; then
  echo "check-sync: profiles/fsh-generated is in sync with profiles/input/fsh"
  exit 0
fi

echo "check-sync: profiles/fsh-generated is OUT OF SYNC with a fresh build of profiles/input/fsh" >&2
sed -e "s#$COMMITTED#committed#g" -e "s#$FRESH#fresh#g" "$TMP/diff.txt" >&2
# A short unified diff of each changed file (first lines only).
grep '^Files .* differ$' "$TMP/diff.txt" | while read -r _ a _ b _; do
  echo "--- ${a#$PROFILES_DIR/} (committed) vs fresh build" >&2
  diff -u "$a" "$b" | sed -n '3,40p' >&2 || true
done
echo "check-sync: run 'bash profiles/scripts/build.sh' and commit profiles/fsh-generated" >&2
exit 1
