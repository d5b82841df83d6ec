#!/usr/bin/env bash
# Runs each libFuzzer harness given for FUZZ_SECONDS (default 60) seconds, seeded from
# fuzz/seeds/NAME/ (committed small files) plus the shared model files listed in fuzz/seeds/NAME.shared
# (paths relative to the project root, one per line). Fails on the first crash.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
status=0
for bin in "$@"; do
    name=$(basename "$bin"); name=${name#fuzz_}
    work=build-fuzz/corpus/$name
    mkdir -p "$work"
    [ -d "fuzz/seeds/$name" ] && cp -n fuzz/seeds/"$name"/* "$work"/ 2>/dev/null || true
    if [ -f "fuzz/seeds/$name.shared" ]; then
        while read -r f; do
            [ -n "$f" ] && [ -f "$f" ] && cp -n "$f" "$work/shared_$(basename "$f")" || true
        done < "fuzz/seeds/$name.shared"
    fi
    echo "== fuzz $name for ${secs}s"
    log=build-fuzz/$name.log
    if ! "$bin" -max_total_time="$secs" -max_len=${FUZZ_MAX_LEN:-1100000} -rss_limit_mb=4096 \
            -artifact_prefix=build-fuzz/crash-"$name"- "$work" > "$log" 2>&1; then
        echo "FUZZ FAILURE in $name:"; tail -50 "$log"; status=1
    fi
    grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -1 || true
done
exit $status
