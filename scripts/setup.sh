#!/usr/bin/env bash
# Prepares a fresh Debian machine for building and testing loom: the C libraries loom links, clang
# for the fuzzers and sanitizers, the Python packages the tests use, and the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
apt_packages=(build-essential clang libclang-rt-14-dev libjansson-dev libpcre2-dev libutf8proc-dev libmicrohttpd-dev libcurl4-openssl-dev xxd chromium openmpi-bin libopenmpi-dev iproute2)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
scripts/fetch-model.sh
