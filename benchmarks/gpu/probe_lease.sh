#!/bin/bash
# One lease's memory probe (2026-11-26): ResNet-50's and FCN-8s's planned and allocated GPU
# memory with and without JAX's preallocation and with autotuning off, then the bfloat16 rows.
#   bash benchmarks/gpu/probe_lease.sh OUTDIR
out=${1:?usage: probe_lease.sh OUTDIR}
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
probe() {  # name limit arch env...
  local name=$1 limit=$2 arch=$3
  shift 3
  mkdir -p "$out/$name"
  env "$@" timeout "$limit" python3 -m benchmarks.gpu.probe_memory "$arch" 500 "$out/$name" \
    >"$out/$name/log" 2>&1
  echo "== $name ($arch; $*) rc=$?"
  grep -E "^infer|^train|GiB|ematerializ|not a failure|Error" "$out/$name/log" | cut -c1-300 | head -12
}
probe resnet_nopre 90 fcn-resnet50 XLA_PYTHON_CLIENT_PREALLOCATE=false
probe resnet_pre 90 fcn-resnet50 XLA_PYTHON_CLIENT_PREALLOCATE=true
probe fcn8s_nopre 50 fcn8s XLA_PYTHON_CLIENT_PREALLOCATE=false
probe fcn8s_pre 50 fcn8s XLA_PYTHON_CLIENT_PREALLOCATE=true
probe resnet_noautotune 70 fcn-resnet50 XLA_PYTHON_CLIENT_PREALLOCATE=false \
  XLA_FLAGS=--xla_gpu_autotune_level=0
timeout 90 python3 -m benchmarks.run --sizes 500 256 --repeats 5 --dtype bfloat16 --skip-memory \
  --skip-pipeline --skip-compile --out "$out/results_bf16.json" >"$out/run_bf16.log" 2>&1
tail -12 "$out/run_bf16.log"
