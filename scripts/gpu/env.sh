#!/usr/bin/env bash
# Source this on a GPU machine before running a CUDA build of mss: prints the GPU and makes the
# cuBLAS of the CUDA toolkit (or of PyTorch's wheels) loadable. mss loads libcublas at run time
# and falls back to Burn's own matrix product when it finds none.
#   source scripts/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if ! ldconfig -p | grep -q 'libcublas\.so'; then
    site=$(python3 -c 'import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))' 2>/dev/null)
    lib=$(find /usr/local/cuda/ $site -name 'libcublas.so*' 2>/dev/null | head -n 1)
    if [ -n "$lib" ]; then
        export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "cuBLAS: $lib"
    else
        echo "cuBLAS: not found (Burn's matrix product will be used)"
    fi
fi
