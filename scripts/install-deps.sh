#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Installs the Debian 12 packages dihya-host needs to build, test and benchmark.
# Idempotent: packages already present are skipped, and `apt-get update` runs only
# when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-filesystem-dev libboost-program-options-dev
  libpqxx-dev libpq-dev postgresql-15 postgresql-client-15
  libfmt-dev nlohmann-json3-dev catch2 libvalijson-dev libyaml-cpp-dev
  libcurl4-openssl-dev libarchive-dev libssl-dev libseccomp-dev libvectorscan-dev libkainjow-mustache-dev
  libhowardhinnant-date-dev zlib1g-dev
  python3 python3-aiosmtpd python3-yaml python3-jsonschema procps openssl libidn2-dev
  help2man dpkg-dev
  nodejs node-express python3-flask python3-pytest python3-psycopg2 python3-cookiecutter
  pocketsphinx pocketsphinx-en-us libpocketsphinx-dev libsndfile1-dev libsoxr-dev espeak-ng sox libsox-fmt-all jq
  minisign
  clang libclang-rt-14-dev hyperfine strace lld time
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
