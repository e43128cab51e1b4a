#!/usr/bin/env bash
# The one step both CI templates run (github-action/action.yml, gitlab/vigil.gitlab-ci.yml): `vigil ci`
# with options from VIGIL_* variables, its table in the job's log, and the signed digest handed on
# (GitHub: the step's `digest` output; GitLab: VIGIL_DIGEST in a dotenv report). Its exit code is vigil's.
#
#   VIGIL_IMAGE                 the image the build pushed (required)
#   VIGIL_KEY | VIGIL_KEYLESS   a cosign key file (password in COSIGN_PASSWORD), or "true" for keyless
#   VIGIL_SIGNING_CONFIG        Sigstore signing config for keyless
#   VIGIL_FAIL_ON               low, medium, high (default) or critical
#   VIGIL_VEX                   VEX files, one per line
#   VIGIL_DB                    vulnerability database folder (default: vigil's)
#   VIGIL_OSV_DATA              OSV files or zips, one per line, imported into VIGIL_DB first
#   VIGIL_PROVENANCE            "false" to attest no provenance (default: true)
#   VIGIL_ALLOW_HTTP_REGISTRY   "true" for a plain-HTTP loopback registry (tests)
#   VIGIL_SBOM_OUTPUT           where to write the CycloneDX SBOM (default: none)
set -uo pipefail
vigil="${VIGIL:-$(cd "$(dirname "$0")/.." && pwd)/bin/vigil}"
: "${VIGIL_IMAGE:?VIGIL_IMAGE: the image to scan, sign and attest}"

args=(ci "$VIGIL_IMAGE" --fail-on "${VIGIL_FAIL_ON:-high}")
if [ "${VIGIL_KEYLESS:-false}" = "true" ]; then
  args+=(--keyless)
  [ -n "${VIGIL_SIGNING_CONFIG:-}" ] && args+=(--signing-config "$VIGIL_SIGNING_CONFIG")
elif [ -n "${VIGIL_KEY:-}" ]; then
  args+=(--key "$VIGIL_KEY")
fi
[ -n "${VIGIL_DB:-}" ] && args+=(--db "$VIGIL_DB")
[ "${VIGIL_PROVENANCE:-true}" = "false" ] && args+=(--no-provenance)
[ "${VIGIL_ALLOW_HTTP_REGISTRY:-false}" = "true" ] && args+=(--allow-http-registry)
[ -n "${VIGIL_SBOM_OUTPUT:-}" ] && args+=(--sbom-output "$VIGIL_SBOM_OUTPUT")
while IFS= read -r vex; do [ -n "$vex" ] && args+=(--vex "$vex"); done <<< "${VIGIL_VEX:-}"

osv=()
while IFS= read -r file; do [ -n "$file" ] && osv+=("$file"); done <<< "${VIGIL_OSV_DATA:-}"
if [ "${#osv[@]}" -gt 0 ]; then
  "$vigil" db import "${osv[@]}" ${VIGIL_DB:+--db "$VIGIL_DB"} || exit $?
fi

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
"$vigil" "${args[@]}" | tee "$report"
status=${PIPESTATUS[0]}
digest="$(sed -n 's/^digest: //p' "$report" | head -n 1)"
[ -n "${GITHUB_OUTPUT:-}" ] && echo "digest=$digest" >> "$GITHUB_OUTPUT"
[ -n "${VIGIL_DOTENV:-}" ] && echo "VIGIL_DIGEST=$digest" > "$VIGIL_DOTENV"
exit "$status"
