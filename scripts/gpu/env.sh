#!/usr/bin/env bash
# Source this on a GPU machine before running a CUDA build of mss: prints the GPU and makes the
# cuBLAS, CUPTI and cuDNN of the CUDA toolkit (or of PyTorch's wheels) loadable. mss loads
# libcublas at run time and falls back to Burn's own matrix product when it finds none; it
# loads libcupti to find CubeCL's CUDA stream and orders cuBLAS by events when it finds none;
# it loads libcudnn (>= 9.6) for its fused attention by default (--no-cudnn: the flash kernel) and runs the flash kernel when it finds none.
#   source scripts/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# Makes the library NAME (libNAME.so*) loadable unless the loader already finds it.
mss_find_library() {
    local name=$1 missing=$2 site lib
    ldconfig -p | grep -q "lib$name\.so" && return
    site=$(python3 -c 'import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))' 2>/dev/null)
    # Not the copies the Nsight tools carry for themselves.
    lib=$(find /usr/local/cuda/ $site -name "lib$name.so*" 2>/dev/null | grep -iv nsight | head -n 1)
    if [ -n "$lib" ]; then
        export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "$name: $lib"
    else
        echo "$name: not found ($missing)"
    fi
}
mss_find_library cublas "Burn's matrix product will be used"
mss_find_library cupti "cuBLAS will be ordered by events"
mss_find_library cudnn "the flash kernel will run the attention"
