#!/bin/bash
# The checks of one lease of an NVIDIA GPU machine, in one call (its image has JAX, Flax,
# Optax, Orbax and PyTorch; grain, ml-collections and their needs travel as wheels in .whl/,
# an ignored folder made with `pip download --no-deps --only-binary=:all: -d .whl ...` for
# the machine's Python 3.12: array_record dm_tree docstring_parser googleapis_common_protos
# grain immutabledict ml_collections portpicker promise simple_parsing tensorflow_datasets
# tensorflow_metadata termcolor toml):
#   bash benchmarks/gpu/lease.sh OUTDIR [more options of the float32 benchmarks.run]
# Writes the float32 benchmark (with compilation, memory and the input pipeline), every
# net's own speed (benchmarks.archs), the bfloat16 speed rows and the device-time profile
# under OUTDIR; each part after the install runs even if an earlier one fails, each within a
# time limit so that all fit one 600 s call (on the H200 the float32 run alone took about
# 400 s and left the later parts no time); a part stopped by its limit leaves its log, and
# benchmarks.archs the rows it finished, benchmarks.run the parts it finished (OUT.partial).
out=${1:?usage: lease.sh OUTDIR [options]}
shift
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
timeout 330 python3 -m benchmarks.run --sizes 500 256 --repeats 5 --out "$out/results_f32.json" \
  "$@" >"$out/run_f32.log" 2>&1
tail -25 "$out/run_f32.log"
timeout 120 python3 -m benchmarks.archs --archs fcn-resnet50 fcn-resnet101 fcn8s-googlenet \
  fcn-alexnet --size 500 --repeats 3 --out "$out/archs_f32.json" >"$out/archs_f32.log" 2>&1
tail -14 "$out/archs_f32.log"
timeout 80 python3 -m benchmarks.run --sizes 500 256 --repeats 5 --dtype bfloat16 --skip-memory \
  --skip-pipeline --skip-compile --out "$out/results_bf16.json" >"$out/run_bf16.log" 2>&1
tail -12 "$out/run_bf16.log"
timeout 60 python3 -m benchmarks.investigations.kernels --sizes 256 500 --calls 10 \
  --out "$out/kernels_f32.json" >"$out/kernels_f32.log" 2>&1
grep -E "^## |ms per call" "$out/kernels_f32.log"
