#!/usr/bin/env bash
# One GPU call of issue 11's measurements: the example's checks (device top-k, statistics
# attention, cuBLAS products and their ordering), then LLaMA-2-7B-shaped prefills of 32K tokens
# beside PyTorch's, a second process for the warm start, and the same run with host-synchronised
# products for the A/B. Run on the GPU machine from the repository root, with the stripped
# binary carried in .device/bin (see docs/results/gpu-prefill.md):
#   cargo build --release -p mss-examples --example prefill_timing --features cuda
#   strip -o .device/bin/prefill_timing target/release/examples/prefill_timing
#   bash scripts/gpu/prefill-check.sh 7b      # or: 7b-more, smollm2, attention, fused, checks, flash4, flash5,
#                                             # flash5-profile, host-profile, host-ab2, pipeline-ab, pipeline-ab2, flash-ncu, model-check,
#                                             # flash-checks,
#                                             # flash4-diag, flash4-smollm2, flash4-more,
#                                             # stats, stats-7b, top-k, memory, rope-range, rope-ab
set -u -o pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
source scripts/gpu/env.sh
export CUBECL_AUTOTUNE_LEVEL=minimal PYTHONUNBUFFERED=1
bin=.device/bin/prefill_timing
# A binary carried gzipped (one that keeps its symbols, for host profiles).
if [ -f "$bin.gz" ]; then gunzip -f "$bin.gz"; chmod +x "$bin"; fi
# CubeCL's compiled kernels and autotune results, carried from an earlier call when present.
export MSS_KERNEL_CACHE=$PWD/.device/kernels
if [ -f .device/kernels.tgz ]; then tar xzf .device/kernels.tgz -C .device; fi
# Each step stops at STEP_LIMIT seconds, and none starts or runs past DEADLINE seconds of the
# script, so that the caches are packed before the call's own limit.
deadline=${DEADLINE:-540}
step() {
    local name=$1; shift
    local left=$((deadline - SECONDS)) limit=${STEP_LIMIT:-280}
    if [ "$left" -lt 20 ]; then echo "== $name: skipped, ${left} s left before the deadline"; return 124; fi
    [ "$left" -lt "$limit" ] && limit=$left
    echo "== $name [$(date +%T)] (limit $limit s): $*"
    /usr/bin/time -f "$name: %e s wall" timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
}
torch() { step "$1" python3 bench/torch_baseline.py --no-calibration --reps 2 --out "/tmp/$1.json" "${@:2}"; }
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
case ${1:-7b} in
7b)
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC"
    step mss-l7b-32k-warm $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM" --no-checks
    step mss-l7b-32k-sync $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM" --no-checks --synchronised-products
    ;;
7b-more)
    step mss-l7b-32k-more $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm IMDC,snapkv FM" --no-checks
    ;;
smollm2)
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k $bin --tokens 8192 --repeats 3 --no-checks
    step mss-smollm2-8k-full $bin --tokens 8192 --repeats 3 --no-checks --only "full attention" --full-chunk 8192
    ;;
attention)
    # Burn's fused attention kernel against blocks of matrix products, where no statistics are
    # needed; then where a 7B layer and chunk spends its time (CubeCL's per-kernel profile).
    step mss-smollm2-8k-full-blocked $bin --tokens 8192 --repeats 3 --no-checks --only "full attention" --full-chunk 8192 --attention blocked
    step mss-l7b-32k-blocked $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM" --no-checks --attention blocked
    CUBECL_DEBUG_LOG=$out/profile-l7b.log CUBECL_DEBUG_OPTION=profile \
        step mss-l7b-8k-profile $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks
    tail -40 "$out/profile-l7b.log" | sed 's/   */  /g' > "$out/profile-l7b-summary.txt"; rm -f "$out/profile-l7b.log"
    ;;
checks)
    # The device checks alone on the small shape (top-k, attention, cuBLAS, RoPE kernel,
    # statistics): a minute on a warm machine, the first thing to run on a fresh one.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none
    ;;
stats)
    # The statistics from the model's attention (one more cuBLAS product per block): the checks
    # first, then the SmolLM2 shape beside PyTorch.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k $bin --tokens 8192 --repeats 3 --no-checks
    ;;
stats-checks)
    # The checks alone, then where a 7B `snapkv` step spends its kernel time.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none
    CUBECL_DEBUG_LOG=$out/profile-l7b.log CUBECL_DEBUG_OPTION=profile \
        step mss-l7b-8k-snapkv-profile $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "snapkv IMDC" --no-checks
    tail -40 "$out/profile-l7b.log" | sed 's/   */  /g' > "$out/profile-l7b-snapkv-summary.txt"; rm -f "$out/profile-l7b.log"
    ;;
top-k)
    # The top-k kernels: the checks (kernels and Burn's operations against the host), the 7B
    # shape at 32K beside PyTorch with the kernels and with Burn's top-k for the A/B, where a 7B
    # `snapkv` step now spends its kernel time, then the SmolLM2 shape beside PyTorch.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC,snapkv FM,streaming_llm IMDC" --no-checks
    step mss-l7b-32k-burn-top-k $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "snapkv IMDC,snapkv FM" --no-checks --burn-top-k
    CUBECL_DEBUG_LOG=$out/profile-l7b.log CUBECL_DEBUG_OPTION=profile \
        step mss-l7b-8k-snapkv-profile $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "snapkv IMDC" --no-checks
    tail -40 "$out/profile-l7b.log" | sed 's/   */  /g' > "$out/profile-l7b-snapkv-summary.txt"; rm -f "$out/profile-l7b.log"
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k $bin --tokens 8192 --repeats 3 --no-checks
    ;;
memory)
    # A prefill the device cannot hold (7B, 384K tokens of full attention in chunks of 128K: the
    # third chunk reads 256K tokens of keys and values, ~137 GB) is refused before it allocates
    # (exit code 75, the sizes that fit); then a 7B run the device can hold still runs.
    step mss-too-big $bin --shape llama2-7b --tokens 393216 --full-chunk 131072 --repeats 1 --only "full attention" --no-checks
    echo "exit code of the prefill too big for the device: $?"
    step mss-fits $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC" --no-checks
    ;;
rope-range)
    # Compact memory positions rotated as one range (no per-head position tensors joined per
    # layer and step): the checks, the 7B shape at 32K beside PyTorch, the same with original
    # positions (position tensors joined as before) for the A/B, and where a 7B
    # `streaming_llm` step spends its kernels.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC,snapkv FM,streaming_llm IMDC" --no-checks
    step mss-l7b-32k-original $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC" --no-checks --positions original
    CUBECL_DEBUG_LOG=$out/profile-l7b.log CUBECL_DEBUG_OPTION=profile \
        step mss-l7b-8k-profile $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks
    tail -40 "$out/profile-l7b.log" | sed 's/   */  /g' > "$out/profile-l7b-summary.txt"; rm -f "$out/profile-l7b.log"
    ;;
rope-ab)
    # The RoPE kernel against Burn's operations for RoPE (a custom operation splits Burn's
    # fusion; does this one pay?): the 7B shape at 32K both ways in one process each, then
    # where a 7B `streaming_llm` step spends its kernels with Burn's RoPE.
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 3 --only "streaming_llm FM,snapkv FM" --no-checks
    step mss-l7b-32k-burn-rope $bin --shape llama2-7b --tokens 32768 --repeats 3 --only "streaming_llm FM,snapkv FM" --no-checks --burn-rope
    CUBECL_DEBUG_LOG=$out/profile-l7b.log CUBECL_DEBUG_OPTION=profile \
        step mss-l7b-8k-profile-burn-rope $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks --burn-rope
    tail -40 "$out/profile-l7b.log" | sed 's/   */  /g' > "$out/profile-l7b-burn-rope-summary.txt"; rm -f "$out/profile-l7b.log"
    ;;
stats-7b)
    # The 7B shape at 32K beside PyTorch, `snapkv` with the statistics products.
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC" --no-checks
    step mss-l7b-32k-more $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "snapkv FM,streaming_llm IMDC" --no-checks
    ;;
fused)
    # The model's own attention (cuBLAS products around one softmax kernel, statistics by one
    # more kernel): the checks against Burn's blocked products, then both shapes beside PyTorch,
    # and Burn's blocked attention in the same call for the A/B.
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    # A failed check stops the run; the timings then come again unchecked, marked as such.
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm,snapkv" ||
        step mss-l7b-32k-unchecked $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm,snapkv" --no-checks
    step mss-l7b-32k-blocked $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC" --no-checks --attention blocked
    step mss-l7b-32k-burn-rope $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,streaming_llm IMDC" --no-checks --burn-rope
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k $bin --tokens 8192 --repeats 3 --no-checks
    step mss-smollm2-8k-full $bin --tokens 8192 --repeats 3 --no-checks --only "full attention" --full-chunk 8192
    CUBECL_DEBUG_LOG=$out/profile-l7b.log CUBECL_DEBUG_OPTION=profile \
        step mss-l7b-8k-profile $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks
    tail -40 "$out/profile-l7b.log" | sed 's/   */  /g' > "$out/profile-l7b-summary.txt"; rm -f "$out/profile-l7b.log"
    ;;
kernels)
    # The softmax kernel holding each row in registers and the RoPE kernel by pairs: the checks
    # (attention against Burn's blocked products, RoPE against Burn's operations), the 7B shape
    # at 32K beside PyTorch, the score-block sizes for the A/B, where a 7B step now spends its
    # GPU time (every kernel, Nsight Compute), then the SmolLM2 shape beside PyTorch.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC,snapkv FM,streaming_llm IMDC" --no-checks
    for log2 in 23 24 26; do
        step mss-l7b-32k-block-$log2 $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM" --no-checks --score-block-log2 $log2
    done
    kernel_times ncu-mss-l7b-8k 9000 600 170 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k $bin --tokens 8192 --repeats 3 --no-checks
    step mss-smollm2-8k-full $bin --tokens 8192 --repeats 3 --no-checks --only "full attention" --full-chunk 8192
    ;;
select)
    # Top-k of rows up to 16K candidates in one kernel (a threshold search in one cube per
    # row): the checks (top-k against the host, now also a short row and one past the
    # kernel's reach), the 7B shape at 32K beside PyTorch, every kernel of a 7B `snapkv` IMDC
    # step (Nsight Compute), then the SmolLM2 shape beside PyTorch.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 3 --only "streaming_llm FM,snapkv IMDC,snapkv FM,streaming_llm IMDC" --no-checks
    kernel_times ncu-snapkv 9000 600 170 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "snapkv IMDC" --no-checks
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k $bin --tokens 8192 --repeats 3 --no-checks
    ;;
flash)
    # The top-k select kernel and the flash-style attention kernel (opt-in, --flash): the
    # checks without and with it (attention against Burn's blocked products, top-k against
    # the host), the 7B shape at 32K beside PyTorch, the flash kernel's A/B on the runs without
    # statistics, its SmolLM2 one-chunk run, and every kernel of a 7B step with it.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none
    step mss-checks-flash $bin --tokens 1024 --repeats 1 --only none --flash
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 3 --only "streaming_llm FM,snapkv IMDC,snapkv FM,streaming_llm IMDC" --no-checks
    step mss-l7b-32k-flash $bin --shape llama2-7b --tokens 32768 --repeats 3 --only "streaming_llm FM,streaming_llm IMDC" --no-checks --flash
    step mss-smollm2-8k-full-flash $bin --tokens 8192 --repeats 3 --no-checks --only "full attention" --full-chunk 8192 --flash
    kernel_times ncu-flash 9000 600 170 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks --flash
    kernel_times ncu-snapkv 9000 600 170 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "snapkv IMDC" --no-checks
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k $bin --tokens 8192 --repeats 3 --no-checks
    ;;
flash4)
    # The flash kernel on register-level `mma` (FlashAttention-2's layout): the 7B shape at
    # 32K through it beside PyTorch (`snapkv` takes the products path for its statistics
    # unless a statistics pass is wired), then the statistics check (against the blocked
    # products at heads of 64 and 128).
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k-flash $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC" --no-checks --flash
    step mss-checks $bin --tokens 1024 --repeats 1 --only none --checks statistics
    ;;
flash5)
    # The statistics pass from the flash kernel's log-sum-exp: the statistics and attention
    # checks, then the 7B shape at 32K beside PyTorch, every configuration through flash.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none --checks statistics,attention
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k-flash $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC,snapkv FM,streaming_llm IMDC" --no-checks --flash
    ;;
flash5-profile)
    # Where the flash path spends its kernel time (Nsight Compute, every kernel of a steady
    # stretch of a 7B `snapkv` IMDC and `streaming_llm` FM prefill), then the SmolLM2 shape
    # at 8K through the flash kernels beside PyTorch, pruned and in one chunk.
    kernel_times ncu-flash-snapkv-imdc 9000 600 150 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "snapkv IMDC" --no-checks --flash
    kernel_times ncu-flash-streaming-fm 9000 600 150 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks --flash
    step mss-smollm2-8k-flash $bin --tokens 8192 --repeats 3 --no-checks --flash
    step mss-smollm2-8k-full-flash $bin --tokens 8192 --repeats 3 --no-checks --only "full attention" --full-chunk 8192 --flash
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    ;;
host-profile)
    # Where the host spends the timed prefills through the flash kernels (a sampling profile
    # of every thread; carry the binary with its symbols, gzipped, as .device/bin/
    # prefill_timing.gz): SmolLM2 at 8K, where the host sets the time, then the 7B shape.
    step mss-smollm2-8k-host $bin --tokens 8192 --repeats 5 --no-checks --flash --only "streaming_llm FM,snapkv FM" --host-profile "$out/host-smollm2"
    step mss-l7b-32k-host $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --flash --only "streaming_llm FM,snapkv FM" --host-profile "$out/host-l7b"
    for f in "$out"/host-*/*.folded; do
        python3 scripts/gpu/folded-summary.py "$f" --top 60 --match burn_fusion:: --match cubecl_runtime:: \
            --match cubecl_cuda:: --match cudarc:: --match mss_pruners:: --match mss_models:: --match mss_core:: > "${f%.folded}-summary.txt"
        gzip "$f"
    done
    ;;
pipeline-ab)
    # The flash kernel with keys and values copied a step ahead (`cp.async`, two buffers) and
    # the queries' fragments read from shared memory: the flash checks first, then the binary
    # before (.device/bin/prefill_timing-before.gz) and after side by side beside PyTorch on
    # the 7B shape, then the new kernel's registers and occupancy (Nsight Compute, one launch).
    before=.device/bin/prefill_timing-before
    gunzip -f "$before.gz"; chmod +x "$before"
    step mss-checks $bin --tokens 1024 --repeats 1 --only none --checks attention,statistics --flash
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k-before $before --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --flash --only "streaming_llm,snapkv"
    step mss-l7b-32k-after $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --flash --only "streaming_llm,snapkv"
    echo "== ncu-flash-occupancy"
    timeout 90 ncu --clock-control none --section LaunchStats --section Occupancy --section SpeedOfLight \
        -k regex:flash_attention --launch-skip 200 --launch-count 1 \
        $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks --flash \
        2>&1 | grep -v "^| \|^<!--" | tail -60 | tee "$out/ncu-flash-occupancy.txt"
    ;;
pipeline-ab2)
    # The flash kernels with one buffer of keys and one of values, FlashAttention-2's order
    # (values copied during the scores, the next keys during `P V`; three cubes per SM), and
    # the heaviest query blocks first: the flash checks, each kernel's duration before
    # (.device/bin/prefill_timing-before.gz: no cp.async) and after (Nsight Compute, ten
    # launches of the 7B FM shape), the new kernel's occupancy, then the prefills side by side
    # beside PyTorch.
    before=.device/bin/prefill_timing-before
    gunzip -f "$before.gz"; chmod +x "$before"
    step mss-checks $bin --tokens 1024 --repeats 1 --only none --checks attention,statistics --flash
    for kernel in flash_attention flash_statistics; do
        for which in before after; do
            exe=$bin; [ $which = before ] && exe=$before
            echo "== ncu-$kernel-$which"
            timeout 100 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:$kernel \
                --launch-skip 100 --launch-count 10 --csv $exe --shape llama2-7b --tokens 8192 --repeats 1 \
                --only "snapkv FM" --no-checks --flash 2>/dev/null \
                | grep "$kernel" | awk -F'","' '{print $NF}' | tr -d '"' | tr '\n' ' ' | tee "$out/ncu-$kernel-$which.txt"
            echo
        done
    done
    echo "== ncu-flash-occupancy"
    timeout 90 ncu --clock-control none --section LaunchStats --section Occupancy --section SpeedOfLight \
        --section SchedulerStats -k regex:flash_attention --launch-skip 100 --launch-count 1 \
        $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks --flash \
        > "$out/ncu-flash-occupancy.txt" 2>&1
    grep -E "Duration|Registers Per|Block Limit|Theoretical Occ|Achieved Occ|Waves|Eligible Warps|Issued Warp" "$out/ncu-flash-occupancy.txt"
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k-before $before --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --flash --only "streaming_llm,snapkv"
    step mss-l7b-32k-after $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --flash --only "streaming_llm,snapkv"
    ;;
flash-ncu)
    # The flash kernel alone, before (.device/bin/prefill_timing-before.gz) and after: its
    # duration over ten launches of the 7B FM shape each, then where the new one stalls
    # (Nsight Compute's speed-of-light, scheduler, warp-state and memory sections, one launch).
    before=.device/bin/prefill_timing-before
    gunzip -f "$before.gz"; chmod +x "$before"
    run7b=(--shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks --flash)
    for which in before after; do
        exe=$bin; [ $which = before ] && exe=$before
        echo "== ncu-flash-$which"
        timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:flash_attention \
            --launch-skip 100 --launch-count 10 --csv $exe "${run7b[@]}" 2>/dev/null \
            | grep flash_attention | tee "$out/ncu-flash-$which.csv" | awk -F'","' '{print $NF}' | tr -d '"' | tr '\n' ' '
        echo
    done
    echo "== ncu-flash-sections"
    timeout 150 ncu --clock-control none --section SpeedOfLight --section SchedulerStats --section WarpStateStats \
        --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis --section Occupancy \
        -k regex:flash_attention --launch-skip 100 --launch-count 1 $bin "${run7b[@]}" \
        > "$out/ncu-flash-sections.txt" 2>&1
    grep -v "^| \|^<!--" "$out/ncu-flash-sections.txt" | grep -E "Duration|Throughput|Issue|Stall|Warp Cycles|Active Warps|Eligible|No Eligible|Bank|Pipe|Occupancy|Registers|Executed Ipc" | head -60
    ;;
host-ab2)
    # Fewer host operations, second round (SiLU in three operations fewer, no swaps around
    # the attention kernel's output): the model's last logits through the crate's kernels
    # (flash) against Burn's operations and the attention check, the binary before
    # (.device/bin/prefill_timing-before.gz) and after side by side beside PyTorch, then the
    # flash kernel's launch statistics and occupancy (Nsight Compute, one launch).
    before=.device/bin/prefill_timing-before
    gunzip -f "$before.gz"; chmod +x "$before"
    step mss-checks $bin --tokens 1024 --repeats 1 --only none --checks attention --check-model --flash
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k-before $before --tokens 8192 --repeats 5 --no-checks --flash --only "streaming_llm,snapkv"
    step mss-smollm2-8k-after $bin --tokens 8192 --repeats 5 --no-checks --flash --only "streaming_llm,snapkv"
    torch torch-l7b-32k --models llama2-7b --L 32768 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC --no-full
    step mss-l7b-32k-before $before --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --flash --only "streaming_llm,snapkv"
    step mss-l7b-32k-after $bin --shape llama2-7b --tokens 32768 --repeats 2 --no-checks --flash --only "streaming_llm,snapkv"
    echo "== ncu-flash-occupancy"
    timeout 90 ncu --clock-control none --section LaunchStats --section Occupancy --section SpeedOfLight \
        -k regex:flash_attention --launch-skip 200 --launch-count 1 \
        $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks --flash \
        2>&1 | grep -v "^| \|^<!--" | tail -60 | tee "$out/ncu-flash-occupancy.txt"
    ;;
model-check)
    # The model end to end through the crate's kernels (flash) against Burn's operations
    # (last logits; Burn's products are tuned on a fresh machine: minutes), then the SmolLM2
    # shape beside PyTorch, pruned and in one chunk.
    step mss-check-model $bin --tokens 1024 --repeats 1 --only none --no-checks --check-model --flash
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    step mss-smollm2-8k $bin --tokens 8192 --repeats 5 --no-checks --flash --only "streaming_llm,snapkv"
    step mss-smollm2-8k-full $bin --tokens 8192 --repeats 5 --no-checks --flash --only "full attention" --full-chunk 8192
    ;;
flash-checks)
    # The flash kernels against the blocked products only (attention and statistics): after
    # a change to the kernels' code, before anything is timed.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none --checks attention,statistics --flash
    ;;
flash4-diag)
    # The statistics check over more head layouts, then the products path and the flash
    # kernels side by side on the 7B `streaming_llm` FM run.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none --checks statistics
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM" --no-checks
    step mss-l7b-32k-flash $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,streaming_llm IMDC" --no-checks --flash
    ;;
flash4-smollm2)
    # The attention check (flash kernel at heads of 64 and 128), then the SmolLM2 shape at 8K
    # through the flash kernel beside PyTorch, pruned and in one chunk.
    step mss-checks $bin --tokens 1024 --repeats 1 --only none --checks attention
    step mss-smollm2-8k-flash $bin --tokens 8192 --repeats 3 --no-checks --flash
    step mss-smollm2-8k-full-flash $bin --tokens 8192 --repeats 3 --no-checks --only "full attention" --full-chunk 8192 --flash
    torch torch-smollm2-8k --models smollm2-135m --L 8192 --settings 1024:1024 --pruners streaming,snapkv --memtypes FM,IMDC
    ;;
flash4-more)
    # The products path beside the flash kernels in the same call, the other two
    # configurations, and where the flash path spends its kernel time.
    step mss-l7b-32k $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm FM,snapkv IMDC" --no-checks
    step mss-l7b-32k-flash-more $bin --shape llama2-7b --tokens 32768 --repeats 2 --only "streaming_llm IMDC,snapkv FM" --no-checks --flash
    kernel_times ncu-flash 9000 100 60 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "snapkv FM" --no-checks --flash
    ;;
ncu)
    # Where one steady-state stretch of a 7B `streaming_llm` FM prefill spends GPU time, every
    # kernel timed by Nsight Compute (cuBLAS's too, which CubeCL's profile leaves out), and the
    # same for PyTorch's run of that configuration; then the products of one chunk in PyTorch.
    keep_csv=1
    ncu --version | tail -1
    kernel_times ncu-mss-l7b-8k 9000 600 170 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "streaming_llm FM" --no-checks
    kernel_times ncu-mss-l7b-8k-snapkv 9000 600 170 $bin --shape llama2-7b --tokens 8192 --repeats 1 --only "snapkv IMDC" --no-checks
    kernel_times ncu-torch-l7b-8k 12000 600 170 python3 bench/torch_baseline.py --no-calibration --reps 1 --out /tmp/t.json --models llama2-7b --L 8192 --settings 1024:1024 --pruners streaming --memtypes FM --no-full
    python3 scripts/gpu/torch-products.py | tee "$out/torch-products.txt"
    ;;
esac
tar czf "$out/kernels.tgz" -C .device kernels; du -sh .device/kernels
ls -la "$out"
