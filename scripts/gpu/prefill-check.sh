#!/usr/bin/env bash
# One GPU call of issue 11's measurements, run on the GPU machine from the repository root with
# the stripped binaries carried in .device/bin (gzipped as NAME.gz is fine) and CubeCL's caches
# as .device/kernels.txz (or .tgz from older calls; see docs/results/gpu-prefill.md and
# gpu-vs-pytorch.md):
#   cargo build --release -p mss-examples --example prefill_timing --example device_check --features cuda
#   for b in prefill_timing device_check; do strip -o .device/bin/$b target/release/examples/$b; gzip -f .device/bin/$b; done
#   bash scripts/gpu/prefill-check.sh checks     # device_check: every kernel check, PASS/FAIL each
#   bash scripts/gpu/prefill-check.sh checks standing   # modes run one after the other
#   bash scripts/gpu/prefill-check.sh standing   # 7B at 32K and SmolLM2 at 8K beside PyTorch, warm start
#   bash scripts/gpu/prefill-check.sh release    # IMDC's pool peak with the pool released after each step
#   bash scripts/gpu/prefill-check.sh cold       # start-up without kernel caches, then a second process (carry no kernels.txz)
#   bash scripts/gpu/prefill-check.sh ab         # .device/bin/prefill_timing-before.gz against the new one
#   bash scripts/gpu/prefill-check.sh ab-smollm2 # the same on the SmolLM2 shape at 8K, where the host sets the time
#   bash scripts/gpu/prefill-check.sh ab-cudnn   # cuDNN's attention (the default) against the flash kernel (--no-cudnn), one binary
#   VARIANTS='A|B' bash scripts/gpu/prefill-check.sh variants  # one binary under flag sets A, B, ... alternating (TRACE=1: each product timed)
#   VARIANTS='--cublas-workspace default|--cublas-workspace none|--cublas-workspace 32' TRACE=1 bash scripts/gpu/prefill-check.sh variants  # cuBLAS's fills
#   bash scripts/gpu/prefill-check.sh sinks-probe # cuDNN's attention at 2048 keys against 2052 (the sinks), 2112, 2176
#   bash scripts/gpu/prefill-check.sh torch-trace # PyTorch's kernel timeline of the same prefill (torch-trace.py), read by the same scripts
#   bash scripts/gpu/prefill-check.sh ratio      # ROUNDS of a PyTorch and an mss process, alternating which goes first: each round's ratio and the median (ratios.py)
#   bash scripts/gpu/prefill-check.sh gemm-tuning  # PyTorch's products against every cuBLASLt algorithm (scripts/gpu/gemm-tuning.py)
#   bash scripts/gpu/prefill-check.sh ordering   # cuBLAS on CubeCL's stream against events (ordering-smollm2: SmolLM2)
#   bash scripts/gpu/prefill-check.sh ncu        # every kernel of a 7B step timed, mss and PyTorch
#   bash scripts/gpu/prefill-check.sh flash-ncu  # the flash kernels' durations, occupancy and stalls
#   bash scripts/gpu/prefill-check.sh flash-sass # one flash launch under the full set: details and stalls per SASS instruction
#   bash scripts/gpu/prefill-check.sh rows32     # the flash kernel at 32 queries a plane against 16
#   bash scripts/gpu/prefill-check.sh stats-rows # the statistics kernel at 16 keys a plane against 32
#   bash scripts/gpu/prefill-check.sh timeline   # where the GPU idles between kernels (Nsight Systems)
#   bash scripts/gpu/prefill-check.sh trace      # the same through CUPTI's activity API (no nsys needed)
#   bash scripts/gpu/prefill-check.sh host-profile  # where the host spends the prefills (feature host-profile)
# Every call also samples the GPU's clock, power and temperature (clocks.txt per step; CLOCKS=0: not).
# Modes of earlier measurements are in git history: each section of gpu-prefill.md names the
# commit whose script and binary it ran.
set -u -o pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
source scripts/gpu/env.sh
export CUBECL_AUTOTUNE_LEVEL=minimal PYTHONUNBUFFERED=1
bin=.device/bin/prefill_timing
# Binaries carried gzipped or xz-compressed (three binaries and the caches fit a call only
# as xz).
for b in .device/bin/*.gz; do [ -f "$b" ] && gunzip -f "$b" && chmod +x "${b%.gz}"; done
for b in .device/bin/*.xz; do [ -f "$b" ] && unxz -f -T0 "$b" && chmod +x "${b%.xz}"; done
# CubeCL's compiled kernels and autotune results, carried from an earlier call when present.
export MSS_KERNEL_CACHE=$PWD/.device/kernels
if [ -f .device/kernels.txz ]; then tar xJf .device/kernels.txz -C .device
elif [ -f .device/kernels.tgz ]; then tar xzf .device/kernels.tgz -C .device; fi
# Each step stops at STEP_LIMIT seconds, and none starts or runs past DEADLINE seconds of the
# script, so that the caches are packed before the call's own limit.
deadline=${DEADLINE:-540}
# The seconds a command may take: LIMIT, or what is left before the deadline less MARGIN;
# 0 when fewer than MIN would be left.
within() {
    local limit=$1 margin=$2 min=$3 left=$((deadline - SECONDS - $2))
    [ "$left" -lt "$min" ] && { echo 0; return; }
    [ "$left" -lt "$limit" ] && echo "$left" || echo "$limit"
}
step() {
    local name=$1; shift
    local limit; limit=$(within "${STEP_LIMIT:-280}" 0 20)
    if [ "$limit" -eq 0 ]; then echo "== $name: skipped, $((deadline - SECONDS)) s left before the deadline"; return 124; fi
    echo "== $name [$(date +%T)] (limit $limit s): $*"
    echo "$name start $(date +%s.%N)" >> /tmp/steps.txt
    /usr/bin/time -f "$name: %e s wall" timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
    local status=$?
    echo "$name end $(date +%s.%N)" >> /tmp/steps.txt
    return $status
}
# The seconds a raw (non-`step`) command may take: LIMIT, or what is left before the deadline
# less 20 s; 0 when too little is left to start.
budget() { within "$1" 20 10; }
torch() { step "$1" python3 bench/torch_baseline.py --no-calibration --reps 2 --out "/tmp/$1.json" "${@:2}"; }
# PyTorch on the goal's 7B setting (32K, C = M = 1024) as NAME, with PRUNERS and MEMTYPES
# (both pruners, FM and IMDC, by default).
torch_l7b() { torch "$1" --models llama2-7b --L 32768 --settings 1024:1024 --pruners "${2:-streaming,snapkv}" --memtypes "${3:-FM,IMDC}" --no-full; }
# Nsight Compute times COUNT kernels of the command's steady state (after SKIP launches), each
# alone, cuBLAS's too, within LIMIT seconds; their sum by kernel goes to NAME-summary.txt. The
# CSV is removed (the calls bring back few files) unless keep_csv is set.
kernel_times() {
    local name=$1 skip=$2 count=$3 limit=$4; shift 4
    echo "== $name"
    timeout "$limit" ncu --clock-control none --metrics gpu__time_duration.sum --launch-skip "$skip" \
        --launch-count "$count" --csv --log-file "$out/$name.csv" "$@" > "$out/$name.stdout" 2>&1
    echo "rc=$?"; tail -3 "$out/$name.stdout"
    python3 scripts/gpu/ncu-summary.py "$out/$name.csv" | tee "$out/$name-summary.txt" | head -40
    [ -n "${keep_csv:-}" ] || rm -f "$out/$name.csv" "$out/$name.stdout"
}
# One traced prefill of the 7B shape: NAME TOKENS CONFIGURATION [prefill_timing flags...]
# through CUPTI (`--kernel-trace`) into /tmp/trace, read by gaps.py (NAME.txt: where the GPU
# idles), kernel-totals.py (NAME-kernels.txt: each kernel's time a layer and step) and
# products.py (NAME-products.txt: each product by its place in the layer); leaves the CSV's
# path in `csv`. Fails when the deadline leaves no time or no CSV came.
trace_prefill() {
    local name=$1 tokens=$2 only=$3 limit; shift 3
    rm -rf /tmp/trace
    limit=$(budget 150); [ "$limit" -gt 0 ] || { echo "$name skipped: the deadline"; return 1; }
    timeout "$limit" $bin --shape llama2-7b --tokens "$tokens" --repeats 1 --no-checks --only "$only" \
        --kernel-trace /tmp/trace "$@" > /tmp/$name.stdout 2>&1
    echo "$name ($only${*:+, $*}) rc=$?"; tail -3 /tmp/$name.stdout
    csv=/tmp/trace/${only// /-}.csv
    [ -f "$csv" ] || { echo "no $csv"; return 1; }
    python3 scripts/gpu/gaps.py "$csv" | tee "$out/$name.txt"
    # Chunks of 1024 × 32 layers of the 7B shape (256 at 8K).
    python3 scripts/gpu/kernel-totals.py "$csv" $((tokens / 1024 * 32)) | tee "$out/$name-kernels.txt"
    python3 scripts/gpu/products.py "$csv" | tee "$out/$name-products.txt"
}
# The GPU's clock, power and temperature every 200 ms through the call (CLOCKS=0: not sampled),
# summed up per step at the end by clocks.py (clocks.txt): whether the GPU slows under a long
# prefill, and for whom.
rm -f /tmp/steps.txt /tmp/gpu-clocks.csv
if [ "${CLOCKS:-1}" = 1 ]; then
    nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader,nounits \
        -lms 200 > /tmp/gpu-clocks.csv 2>/dev/null &
    sampler=$!
    trap 'kill $sampler 2>/dev/null' EXIT
fi
for mode in "${@:-standing}"; do
case $mode in
checks)
    # Every kernel against the path it replaces (the issue's "Correctness"), on random inputs
    # and the random-weight SmolLM2-shaped model; Burn's products are tuned on a fresh machine
    # for the model check (minutes, unless the caches are carried).
    # CHECKS: a comma-separated subset of device_check's families (all by default);
    # CHECK_FLAGS: more of device_check's flags (`--no-cudnn`: the model check through the flash kernel; binaries
    # before the cuDNN default took `--cudnn` the other way round).
    step device-check${CHECKS:+-${CHECKS//,/-}} .device/bin/device_check ${CHECKS:+--checks $CHECKS} ${CHECK_FLAGS:-}
    ;;
standing)
    # The issue's tables: PyTorch and mss on the 7B shape at 32K and the SmolLM2 shape at 8K,
    # each configuration of the goal, then a second process for the warm start. MSS_FLAGS:
    # more of prefill_timing's flags for every mss process (`--no-cudnn`: the flash kernel's attention;
    # binaries before the cuDNN default took `--cudnn` for cuDNN's).
    torch_l7b torch-l7b-32k
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --only "streaming_llm,snapkv" ${MSS_FLAGS:-}
    step mss-l7b-32k-warm $bin --shape llama2-7b --tokens 32768 --repeats 1 --no-checks --only "streaming_llm FM" ${MSS_FLAGS:-}
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k $bin --tokens 8192 --repeats 5 --no-checks --only "streaming_llm,snapkv" ${MSS_FLAGS:-}
    step mss-smollm2-8k-full $bin --tokens 8192 --repeats 5 --no-checks --only "full attention" --full-chunk 8192 ${MSS_FLAGS:-}
    ;;
cold)
    # Start-up without kernel caches: the first process on a machine (carry no kernels.txz)
    # compiles and tunes every kernel of the two configurations; a second process finds the
    # first's caches on disk (and cuDNN's saved plans).
    # The carried caches are back in use for the modes after this one.
    carried=$MSS_KERNEL_CACHE
    export MSS_KERNEL_CACHE=/tmp/cold-kernels
    rm -rf "$MSS_KERNEL_CACHE"
    step mss-l7b-32k-cold $bin --shape llama2-7b --tokens 32768 --repeats 1 --no-checks --only "streaming_llm FM,snapkv IMDC" ${MSS_FLAGS:-}
    step mss-l7b-32k-second $bin --shape llama2-7b --tokens 32768 --repeats 1 --no-checks --only "streaming_llm FM,snapkv IMDC" ${MSS_FLAGS:-}
    # What was compiled joins the carried caches (none carried: it becomes them), so that the
    # modes after this one and the packed kernels.txz start warm.
    mkdir -p "$carried" && cp -an "$MSS_KERNEL_CACHE"/. "$carried"/
    export MSS_KERNEL_CACHE=$carried
    ;;
release)
    # IMDC's pool peak, as it is and with the pool released after each step (exact-size
    # allocations during the prefill, `--release-each-step`).
    step mss-l7b-32k-imdc $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --only "IMDC"
    step mss-l7b-32k-release $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --only "streaming_llm,snapkv IMDC" --release-each-step  # FM too: its cost
    ;;
ab)
    # The binary before a change (.device/bin/prefill_timing-before.gz, given BEFORE_FLAGS, e.g.
    # `--flash` for binaries older than the flash default) and after, side by side beside PyTorch;
    # ROUNDS (1 by default) processes of each, alternating.
    before=.device/bin/prefill_timing-before
    torch_l7b torch-l7b-32k
    for round in $(seq "${ROUNDS:-1}"); do
        suffix=$([ "${ROUNDS:-1}" -gt 1 ] && echo "-$round")
        step mss-l7b-32k-before$suffix $before --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --only "streaming_llm,snapkv" ${BEFORE_FLAGS:-}
        step mss-l7b-32k-after$suffix $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --only "streaming_llm,snapkv"
    done
    ;;
ab-cudnn)
    # cuDNN's fused attention (the default) against the flash kernel (`--no-cudnn`), the same
    # binary, beside PyTorch; ROUNDS (2 by default) processes of each,
    # alternating. SHAPES: `l7b` (the 7B shape at 32K, the default), `smollm2` (8K) or both.
    for shape in ${SHAPES:-l7b}; do
        case $shape in
        l7b) torch_l7b torch-l7b-32k
             args=(--shape llama2-7b --tokens 32768 --repeats 2) ;;
        smollm2) torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
             args=(--tokens 8192 --repeats 5) ;;
        esac
        for round in $(seq "${ROUNDS:-2}"); do
            step mss-$shape-flash-$round $bin "${args[@]}" --no-checks --only "streaming_llm,snapkv" --no-cudnn
            step mss-$shape-cudnn-$round $bin "${args[@]}" --no-checks --only "streaming_llm,snapkv"
        done
    done
    ;;
variants)
    # One binary under each of VARIANTS (prefill_timing flag sets separated by `|`, e.g.
    # `--weights-as-stored gate,up|--weights-as-stored none`), ROUNDS (2 by default) rounds of
    # processes alternating, on the 7B shape at 32K beside PyTorch; ONLY: the configurations
    # (`streaming_llm FM,snapkv IMDC` by default). TRACE=1 adds one traced 8K `streaming_llm FM`
    # prefill per variant, each product timed by its place in the layer (products.py).
    IFS='|' read -r -a variants <<< "${VARIANTS:?VARIANTS: flag sets separated by |}"
    torch_l7b torch-l7b-32k
    for round in $(seq "${ROUNDS:-2}"); do
        for i in "${!variants[@]}"; do
            step mss-l7b-32k-v$((i + 1))-$round $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks \
                --only "${ONLY:-streaming_llm FM,snapkv IMDC}" ${variants[$i]}
        done
    done
    [ -n "${TRACE:-}" ] && for i in "${!variants[@]}"; do
        trace_prefill trace-v$((i + 1)) 8192 "streaming_llm FM" ${variants[$i]}
    done
    ;;
sinks-probe)
    # cuDNN's attention of a 7B step at 2048, 2052 (the four sinks: every FM step's), 2112 and
    # 2176 keys, timed alone (cudnn-sdpa-probe.py): what the sinks' extra tile costs.
    lib=$(ldconfig -p | awk '/libcudnn.so.9 /{print $NF; exit}')
    # Else PyTorch's wheel's (site-packages/nvidia/cudnn) or the toolkit's.
    site=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null)
    [ -n "$lib" ] || lib=$(find $site /usr/local/cuda/ /usr/lib -name 'libcudnn.so.9' 2>/dev/null | grep -iv nsight | head -n 1)
    if [ -n "$lib" ]; then step sinks-probe python3 scripts/gpu/cudnn-sdpa-probe.py "$lib" sinks
    else echo "sinks-probe: no libcudnn.so.9 found"; fi
    ;;
torch-trace)
    # PyTorch's timeline of the prefill `trace` traces (torch.profiler, scripts/gpu/torch-trace.py;
    # TRACE_TOKENS, 8192 by default; TRACE_ONLY `streaming FM` or `snapkv IMDC`, PyTorch's
    # names): kernels, fills and copies a layer and step and the gaps between them, beside mss's.
    tokens=${TRACE_TOKENS:-8192}
    read -r pruner memtype <<< "${TRACE_ONLY:-streaming FM}"
    name=torch-trace-$pruner-$memtype
    limit=$(budget 240)
    if [ "$limit" -gt 0 ] && timeout "$limit" python3 scripts/gpu/torch-trace.py /tmp/$name.csv --L "$tokens" \
        --pruner "$pruner" --memtype "$memtype" 2>&1 | tail -3 && [ -f /tmp/$name.csv ]; then
        python3 scripts/gpu/gaps.py /tmp/$name.csv | tee "$out/$name.txt"
        python3 scripts/gpu/kernel-totals.py /tmp/$name.csv $((tokens / 1024 * 32)) | tee "$out/$name-kernels.txt"
        python3 scripts/gpu/products.py /tmp/$name.csv | tee "$out/$name-products.txt"
    else
        echo "$name: no trace (limit $limit s)"
    fi
    ;;
ratio)
    # mss's time over PyTorch's as the goal counts it, with its spread: ROUNDS (3 by default)
    # rounds of a PyTorch process and an mss process on the 7B shape at 32K, and each
    # configuration's ratio per round and their median (ratios.py) in ratio.txt. One round's
    # ratio moves with the GPU's clock between processes by ~2 %; odd rounds run PyTorch first,
    # even rounds mss first, so that neither side always meets the GPU as the other left it.
    # ONLY: mss's configurations (the goal's two by default, those `cold` compiles);
    # TORCH_PRUNERS / TORCH_MEMTYPES: PyTorch's (all four by default; `streaming` / `FM`
    # with ONLY='streaming_llm FM' make a round ~25 s instead of ~50).
    torch_logs=(); mss_logs=()
    for round in $(seq "${ROUNDS:-3}"); do
        for side in $([ $((round % 2)) = 1 ] && echo "torch mss" || echo "mss torch"); do
            if [ "$side" = torch ]; then
                torch_l7b torch-l7b-32k-r$round "${TORCH_PRUNERS:-}" "${TORCH_MEMTYPES:-}"
            else
                step mss-l7b-32k-r$round $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --only "${ONLY:-streaming_llm FM,snapkv IMDC}" ${MSS_FLAGS:-}
            fi
        done
        torch_logs+=("$out/torch-l7b-32k-r$round.log"); mss_logs+=("$out/mss-l7b-32k-r$round.log")
    done
    python3 scripts/gpu/ratios.py --torch "${torch_logs[@]}" --mss "${mss_logs[@]}" | tee "$out/ratio.txt"
    ;;
gemm-tuning)
    # PyTorch's default product against every algorithm cuBLASLt's heuristic offers, per 7B
    # product shape and layout: whether tuning cuBLAS's choice would pay.
    step gemm-tuning python3 scripts/gpu/gemm-tuning.py
    ;;
ordering)
    # cuBLAS's products on CubeCL's own stream against events from a stream of their own (the
    # same binary, `--product-ordering`), processes alternating, PyTorch in the same call.
    torch_l7b torch-l7b-32k
    for round in 1 2; do
        for ordering in events stream; do
            step mss-l7b-32k-$ordering-$round $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --only "streaming_llm,snapkv" --product-ordering $ordering
        done
    done
    ;;
stats-rows)
    # The flash statistics kernel at 16 keys a plane against 32 (the same binary,
    # `--statistics-rows`), processes alternating; the kernels' own times come from `trace`.
    for round in 1 2; do
        for rows in 16 32; do
            step mss-l7b-32k-stats$rows-$round $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --only "snapkv" --statistics-rows $rows
        done
    done
    for rows in 16 32; do
        limit=$(budget 100); [ "$limit" -gt 0 ] || { echo "skipped: the deadline"; continue; }
        rm -rf /tmp/trace
        timeout "$limit" $bin --shape llama2-7b --tokens 8192 --repeats 1 --no-checks --only "snapkv FM" \
            --statistics-rows $rows --kernel-trace /tmp/trace > /tmp/trace-stats$rows.stdout 2>&1
        echo "trace-stats$rows rc=$?"
        [ -f /tmp/trace/snapkv-FM.csv ] && xz -T0 -6 -c /tmp/trace/snapkv-FM.csv > "$out/trace-stats$rows.csv.xz"
    done
    ;;
ordering-smollm2)
    # As `ordering`, on the SmolLM2 shape at 8K.
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    for round in 1 2; do
        for ordering in events stream; do
            step mss-smollm2-8k-$ordering-$round $bin --tokens 8192 --repeats 5 --no-checks --only "streaming_llm,snapkv" --product-ordering $ordering
        done
    done
    ;;
full)
    # The SmolLM2 shape's prompt in one chunk (full attention) beside PyTorch's one forward.
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming --memtypes FM
    step mss-smollm2-8k-full $bin --tokens 8192 --repeats 5 --no-checks --only "full attention" --full-chunk 8192
    ;;
ab-smollm2)
    # As `ab`, on the SmolLM2 shape at 8K (the host's cost per operation sets these times).
    before=.device/bin/prefill_timing-before
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k-before $before --tokens 8192 --repeats 5 --no-checks --only "streaming_llm,snapkv" ${BEFORE_FLAGS:-}
    step mss-smollm2-8k-after $bin --tokens 8192 --repeats 5 --no-checks --only "streaming_llm,snapkv"
    # What releasing the pool after each step costs where the host sets the time.
    step mss-smollm2-8k-release $bin --tokens 8192 --repeats 5 --no-checks --only "streaming_llm,snapkv" --release-each-step
    ;;
rows32)
    # The flash kernel at 32 queries a plane against 16: the attention and statistics checks
    # both ways, the 7B prefills both ways, and the kernel alone (ten launches each).
    step checks-rows16 .device/bin/device_check --checks attention,statistics --flash-rows 16
    step checks-rows32 .device/bin/device_check --checks attention,statistics --flash-rows 32
    step mss-l7b-32k-rows16 $bin --shape llama2-7b --tokens 32768 --repeats 3 --no-checks --only "streaming_llm,snapkv" --flash-rows 16
    step mss-l7b-32k-rows32 $bin --shape llama2-7b --tokens 32768 --repeats 3 --no-checks --only "streaming_llm,snapkv" --flash-rows 32
    for rows in 16 32; do
        echo "== ncu-flash-rows$rows"
        limit=$(budget 100); [ "$limit" -gt 0 ] || { echo "skipped: the deadline"; continue; }
        timeout "$limit" ncu --clock-control none --metrics gpu__time_duration.sum,launch__registers_per_thread -k regex:flash_attention \
            --launch-skip 100 --launch-count 10 --csv $bin --shape llama2-7b --tokens 8192 --repeats 1 \
            --only "streaming_llm FM" --no-checks --flash-rows $rows 2>/dev/null \
            | grep flash_attention | awk -F'","' '{print $(NF-1), $NF}' | tr -d '"' | tr '\n' ' ' | tee "$out/ncu-flash-rows$rows.txt"
        echo
    done
    ;;
ncu)
    # Where one steady-state stretch of a 7B prefill spends GPU time, every kernel timed by
    # Nsight Compute (cuBLAS's too), and the same for PyTorch's run of that configuration.
    # Nsight Compute holds CUPTI, so under it the products are ordered by events (kernel
    # times are the same either way).
    ncu --version | tail -1
    kernel_times ncu-mss-l7b-8k 9000 600 170 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks
    kernel_times ncu-mss-l7b-8k-snapkv 9000 600 170 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "snapkv ${NCU_SNAPKV:-IMDC}" --no-checks
    # PyTorch's kernels (on record in docs/results/gpu-prefill/ncu-call.log) unless NCU_TORCH=0.
    [ "${NCU_TORCH:-1}" = 0 ] || kernel_times ncu-torch-l7b-8k 12000 600 170 python3 bench/torch_baseline.py --no-calibration --reps 1 --out /tmp/t.json --models llama2-7b --L 8192 --settings 1024:1024 --pruners streaming --memtypes FM --no-full
    ;;
flash-ncu)
    # The flash kernels alone: each one's duration over ten launches of the 7B `snapkv` FM
    # shape, then the attention kernel's occupancy and where it stalls (one launch).
    for kernel in flash_attention flash_statistics; do
        echo "== ncu-$kernel"
        timeout 100 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:$kernel \
            --launch-skip 100 --launch-count 10 --csv $bin --shape llama2-7b --tokens 8192 --repeats 1 \
            --only "snapkv FM" --no-checks 2>/dev/null \
            | grep "$kernel" | awk -F'","' '{print $NF}' | tr -d '"' | tr '\n' ' ' | tee "$out/ncu-$kernel.txt"
        echo
    done
    timeout 150 ncu --clock-control none --section LaunchStats --section Occupancy --section SpeedOfLight \
        --section SchedulerStats --section WarpStateStats --section MemoryWorkloadAnalysis \
        -k regex:flash_attention --launch-skip 100 --launch-count 1 \
        $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks \
        > "$out/ncu-flash-sections.txt" 2>&1
    grep -E "Duration|Registers Per|Block Limit|Theoretical Occ|Achieved Occ|Waves|Eligible Warps|Issued Warp|Warp Cycles" "$out/ncu-flash-sections.txt"
    ;;
flash-sass)
    # One launch of the flash attention kernel (7B shape, streaming_llm FM, a steady-state
    # step) under Nsight Compute's full set: every section's details, and the stalls sampled
    # per SASS instruction (the source page), for where its ~130 us go.
    limit=$(budget 240); [ "$limit" -gt 0 ] || { echo "skipped: the deadline"; continue; }
    timeout "$limit" ncu --clock-control none --set full --import-source no -k regex:flash_attention \
        --launch-skip 100 --launch-count 1 -f -o /tmp/flash-full \
        $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks \
        > /tmp/flash-full.stdout 2>&1
    echo "ncu rc=$?"; tail -3 /tmp/flash-full.stdout
    ncu -i /tmp/flash-full.ncu-rep --page details > "$out/flash-full-details.txt" 2>&1
    ncu -i /tmp/flash-full.ncu-rep --page source --csv --print-source sass 2>&1 | xz -T0 -6 > "$out/flash-full-sass.csv.xz"
    grep -E "Duration|Registers Per|Theoretical Occ|Achieved Occ|Issued Warp|Warp Cycles|Executed Ipc|Stall" "$out/flash-full-details.txt" | head -40
    ls -la "$out"/flash-full-*
    ;;
timeline)
    # Where a 7B prefill's GPU sits idle between kernels, and whether it waited for the host
    # (Nsight Systems' trace of the kernels and the API calls that launched them).
    if ! command -v nsys > /dev/null; then
        ls -d /usr/local/cuda*/bin /opt/nvidia/nsight-systems*/bin 2>/dev/null
        echo "nsys not found"
    else
        nsys --version
        for only in "streaming_llm FM" "snapkv FM"; do
            name=timeline-${only// /-}
            limit=$(budget 150); [ "$limit" -gt 0 ] || { echo "skipped: the deadline"; continue; }
            timeout "$limit" nsys profile -t cuda -o /tmp/$name -f true $bin --shape llama2-7b \
                --tokens 8192 --repeats 1 --no-checks --only "$only" > /tmp/$name.stdout 2>&1
            echo "nsys rc=$?"; tail -2 /tmp/$name.stdout
            nsys export --type sqlite -o /tmp/$name.sqlite -f true /tmp/$name.nsys-rep > /dev/null 2>&1
            python3 scripts/gpu/gaps.py /tmp/$name.sqlite | tee "$out/$name.txt"
        done
    fi
    ;;
trace)
    # As `timeline`, without Nsight Systems: the binary traces its own timed prefill through
    # CUPTI's activity API (`--kernel-trace`: kernels, copies, fills and the driver calls that
    # launched them, one CSV per configuration), and gaps.py reads the CSV. The CSVs come back
    # xz-compressed where they fit a returned file. MSS_FLAGS as for `standing`.
    # TRACE_TOKENS: the prompt's length (8192 by default); TRACE_ONLY: the configurations
    # (`streaming_llm FM,snapkv FM` by default).
    tokens=${TRACE_TOKENS:-8192}
    IFS=',' read -r -a traced <<< "${TRACE_ONLY:-streaming_llm FM,snapkv FM}"
    for only in "${traced[@]}"; do
        name=trace-${only// /-}
        trace_prefill "$name" "$tokens" "$only" ${MSS_FLAGS:-} || continue
        xz -T0 -6 -c "$csv" > "$out/$name.csv.xz"
        # A returned file may have 16 MiB.
        if [ "$(stat -c %s "$out/$name.csv.xz")" -gt $((16 << 20)) ]; then
            echo "$name.csv.xz: $(du -h "$out/$name.csv.xz" | cut -f1), too large to bring back"
            rm -f "$out/$name.csv.xz"
        fi
    done
    ;;
host-profile)
    # Where the host spends the timed prefills (a sampling profile of every thread; carry the
    # binary built with feature host-profile and its symbols, `strip --strip-debug`, gzipped):
    # SmolLM2 at 8K, where the host sets the time, then the 7B shape.
    step mss-smollm2-8k-host $bin --tokens 8192 --repeats 5 --no-checks --only "streaming_llm FM,snapkv FM" --host-profile "$out/host-smollm2"
    step mss-l7b-32k-host $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --only "streaming_llm FM,snapkv FM" --host-profile "$out/host-l7b"
    for f in "$out"/host-*/*.folded; do
        python3 scripts/gpu/folded-summary.py "$f" --top 60 --match burn_fusion:: --match cubecl_runtime:: \
            --match cubecl_cuda:: --match cudarc:: --match mss_pruners:: --match mss_models:: --match mss_core:: > "${f%.folded}-summary.txt"
        gzip "$f"
    done
    ;;
*)
    echo "usage: $0 checks | standing | ratio | torch-trace | sinks-probe | variants | gemm-tuning | release | cold | ab | ab-smollm2 | ab-cudnn | ordering | ordering-smollm2 | full | rows32 | stats-rows | ncu | flash-ncu | flash-sass | timeline | trace | host-profile ..." >&2
    exit 2
    ;;
esac
done
if [ -n "${sampler:-}" ]; then
    kill "$sampler" 2>/dev/null
    python3 scripts/gpu/clocks.py /tmp/gpu-clocks.csv /tmp/steps.txt > "$out/clocks.txt" 2>&1
fi
# xz: the caches outgrow a returned file's 16 MiB as gzip.
# PACK_KERNELS=0: not brought back (the carried caches had every kernel the call ran).
if [ "${PACK_KERNELS:-1}" = 1 ]; then
    tar cf - -C .device kernels | xz -T0 -6 > "$out/kernels.txz"; du -sh .device/kernels "$out/kernels.txz"
fi
# A call brings back at most eight files: PACK_LOGS=1 packs the logs into one.
if [ "${PACK_LOGS:-0}" = 1 ]; then
    (
        cd "$out" || exit
        logs=()
        for f in *; do [ "$f" = kernels.txz ] || [ "$f" = logs.tgz ] || logs+=("$f"); done
        if [ ${#logs[@]} -gt 0 ]; then tar czf logs.tgz --remove-files -- "${logs[@]}"; fi
    )
fi
