#!/usr/bin/env bash
# Fetches the IATI Activity Standard 2.03 XML schema, which the export test
# validates against, from the pyIATI package on PyPI into DEST (default
# target/iati-schema). Nothing is committed: the schema is fetched as needed.
set -euo pipefail
dest="${1:-target/iati-schema}"
if [ -f "$dest/2-03/iati-activities-schema.xsd" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --no-binary :all: -q -d "$tmp" pyiati==0.4.1
tar xzf "$tmp"/pyIATI-0.4.1.tar.gz -C "$tmp"
mkdir -p "$dest/2-03"
cp "$tmp"/pyIATI-0.4.1/iati/resources/standard/2-03/schemas/*.xsd "$dest/2-03/"
echo "IATI 2.03 schema in $dest/2-03"
