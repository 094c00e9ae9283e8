#!/usr/bin/env bash
# The GPU eval with the real default model, whose 98 MB GGUF does not fit one call's 64 MiB
# carry (which counts the ~12 MB of tracked files too): the GGUF travels xz-compressed (90 MB) in
# three parts over three calls made back to back (ignored files stay on a warm machine between
# calls; it is given back after 30 s idle), then the CUDA xtask binary converts it and runs the
# eval; later calls resume the same results.jsonl.
#
#   bash scripts/gpu/eval-carry.sh prepare         # here: .device/eval/{gguf.xz.aa,ab,ac,xtask.xz,corpora.tgz}
#   # call 1, carry [".device/eval/gguf.xz.aa", ".device/eval/xtask.xz", ".device/eval/corpora.tgz"] (~45 MB):
#   #                                              bash scripts/gpu/eval-carry.sh place
#   # call 2 at once, carry [".device/eval/gguf.xz.ab"] (~31 MB):
#   #                                              bash scripts/gpu/eval-carry.sh place
#   # call 3 at once, carry [".device/eval/gguf.xz.ac"] (~28 MB):
#   #                                              bash scripts/gpu/eval-carry.sh run --preset paper --dtype bf16 ... [--no-flash-attention]
#   # further calls (same machine, still warm):   bash scripts/gpu/eval-carry.sh run <the same arguments>
set -euo pipefail
here=.device/eval
gguf=SmolLM2-135M-Instruct.Q4_1.gguf
case ${1:-} in
prepare)
    mkdir -p "$here"
    # A cache holding the model's GGUF and the texts (`MSS_CACHE_DIR`; the repository's
    # `.cache` after `.ci/run`, else `mss_assets::cache_root`'s rule).
    cache=${MSS_CACHE_DIR:-}
    [ -n "$cache" ] || { [ -d .cache/corpora ] && cache=.cache; } || cache=${XDG_CACHE_HOME:-$HOME/.cache}/mss
    for need in "models/$gguf" corpora; do
        [ -e "$cache/$need" ] || { echo "no $cache/$need: set MSS_CACHE_DIR to a cache the tests have filled" >&2; exit 1; }
    done
    rm -f "$here"/gguf.*
    xz -T2 -6 -c "$cache/models/$gguf" | split -b 30M - "$here/gguf.xz."
    tar czf "$here/corpora.tgz" -C "$cache" corpora
    cargo build --release -p xtask --features cuda
    strip -o "$here/xtask" target/release/xtask && xz -T2 -9 -f "$here/xtask"
    ls -la "$here"
    ;;
place)
    ls -la "$here"
    ;;
run)
    shift
    export MSS_CACHE_DIR=$PWD/.device/eval/cache
    mkdir -p "$MSS_CACHE_DIR/models"
    if [ ! -f "$MSS_CACHE_DIR/models/$gguf" ]; then
        cat "$here"/gguf.xz.a? | xz -d > "$MSS_CACHE_DIR/models/$gguf.part"
        mv "$MSS_CACHE_DIR/models/$gguf.part" "$MSS_CACHE_DIR/models/$gguf"
        tar xzf "$here/corpora.tgz" -C "$MSS_CACHE_DIR"
    fi
    if [ -f "$here/xtask.xz" ]; then xz -d -f "$here/xtask.xz"; chmod +x "$here/xtask"; fi
    source scripts/gpu/env.sh
    export MSS_KERNEL_CACHE=$PWD/.device/kernels CUBECL_AUTOTUNE_LEVEL=minimal
    # Stop before the call's own limit: the results so far are on disk and the next call
    # resumes them.
    timeout "${EVAL_LIMIT:-500}" "$here/xtask" eval "$@" || echo "eval stopped (exit $?): resume in the next call"
    out=${OUT:-/tmp/out}
    mkdir -p "$out"
    for folder in target/eval/*/; do
        [ -f "$folder/summary.md" ] && cp "$folder/summary.md" "$out/$(basename "$folder")-summary.md"
        # Results of one process, or of each worker of `--devices` (and the workers' logs).
        for file in "$folder"/results*.jsonl "$folder"/worker-*.log; do
            [ -f "$file" ] && cp "$file" "$out/$(basename "$folder")-$(basename "$file")"
        done
        # The folder's identity (model, dtype, backend, data): `--report-only` titles the
        # report from it when the folder is rebuilt here.
        [ -f "$folder/manifest.json" ] && cp "$folder/manifest.json" "$out/$(basename "$folder")-manifest.json"
    done
    ls -la "$out"
    ;;
*)
    echo "usage: $0 prepare | place | run <xtask eval arguments>" >&2
    exit 2
    ;;
esac
