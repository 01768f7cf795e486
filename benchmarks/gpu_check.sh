#!/usr/bin/env bash
# The Triton kernel tests on a real GPU, no timing (a few minutes on an H100/H200):
#
#     bash benchmarks/gpu_check.sh          # from the repository root
#
# Runs tests/ops/test_triton_kernels.py, test_triton_split.py, test_native_cuda.py and
# test_lngru_triton.py on CUDA
# (TRITON_INTERPRET unset), each test limited to --timeout seconds and the whole run to 225 s, stopping at the
# first failure (GPU_CHECK_X= to run them all). The log, headed by the GPU and the versions,
# goes to $OUT/gpu_tests.log ($OUT defaults to /tmp); the failures and the summary line are
# printed. Exit status: pytest's (124: the run passed 225 s).
set -u
out="${OUT:-/tmp}"
mkdir -p "$out"
log="$out/gpu_tests.log"
{
    nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader
    python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
} >"$log" 2>&1
env -u TRITON_INTERPRET PYTHONPATH="$PWD/src:$PWD/tests/ops:$PWD/benchmarks" \
    GRUKIT_UNVERIFIED_TRITON=allow timeout 225 \
    python3 -m pytest -q -p no:cacheprovider ${GPU_CHECK_X--x} --timeout 150 -rfEs \
    tests/ops/test_triton_kernels.py tests/ops/test_triton_split.py \
    tests/ops/test_native_cuda.py tests/ops/test_lngru_triton.py >>"$log" 2>&1
rc=$?
echo "pytest exit status $rc" >>"$log"
head -n 2 "$log"
grep -E "^(FAILED|ERROR|SKIPPED)|Timeout|[0-9]+ (passed|failed)" "$log" | tail -n 40
echo "pytest exit status $rc; log: $log"
exit "$rc"
