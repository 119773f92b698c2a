#!/usr/bin/env bash
# The GPU run: on a Linux x86-64 machine with an NVIDIA GPU and no network, unpacks what
# bench/gpu/pack.sh packed, points Vulkan at the NVIDIA driver, and prints
#   1. the adapter                           (node dist/cli.js device)
#   2. the kernel table                      (matmul 1024/2048, the conv2d layers) vs PyTorch / TF.js
#   3. the six models' training and inference images/s at 224, batch 32, vs PyTorch (CUDA when
#      the machine's python3 has torch with CUDA) and TF.js-WebGPU (LeNet)
# Everything goes to RESULTS_DIR too: run.log and results.jsonl (the device tool: RESULTS_DIR=$OUT).
#
#   bash bench/gpu/run.sh [PACK_DIR] [RESULTS_DIR]   (defaults: dist-bench/gpu-pack, $OUT or ./gpu-results)
#
# Environment (all optional):
#   GPU_ICD=/path/icd.json    a Vulkan ICD other than NVIDIA's (e.g. lavapipe's, to try this script
#                             on a machine without a GPU)
#   VK_LOADER=packed          use the packed libvulkan1 even where the machine has a loader
#   SIZE=224 BATCH=32 RUNS=5              the model tables' options
#   MODELS="dnn lenet vgg16 resnet18 birnn vit"   the models, one process (and table) each
#   STEPS="device kernels models"         which steps to run
#   TORCH_DEVICE=auto|cuda|cpu            the PyTorch peer's device
#   T_KERNELS=120 T_MODEL=70              time limits, seconds: the kernel table, each model
#                                         (all steps together stay under the device tool's 10 minutes)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PACK=$(cd "${1:-$HERE/../../dist-bench/gpu-pack}" && pwd)
RESULTS=${2:-${OUT:-$PWD/gpu-results}}
mkdir -p "$RESULTS" && RESULTS=$(cd "$RESULTS" && pwd)
WORK=${GPU_WORK:-/tmp/wgdl-gpu}
STEPS=${STEPS:-device kernels models}

log() { echo "run: $*" >&2; }

# Two files, appended to after each step (the device tool brings back at most 8 files, and a
# step cut short must not lose the earlier ones): run.log (what the terminal shows) and
# results.jsonl (one JSON record per table).
: >"$RESULTS/run.log"
: >"$RESULTS/results.jsonl"
exec 2> >(tee -a "$RESULTS/run.log" >&2)

# 1. Unpack (xz through tar, or Python's lzma where tar has no xz).
rm -rf "$WORK" && mkdir -p "$WORK"
if command -v xz >/dev/null; then
  tar -C "$WORK" -xJf "$PACK/wgdl-gpu.tar.xz"
else
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$PACK/wgdl-gpu.tar.xz" "$WORK"
fi || { log "cannot unpack $PACK/wgdl-gpu.tar.xz"; exit 1; }
NODE="$WORK/node/bin/node"
log "unpacked to $WORK: node $("$NODE" --version)"

# 2. Vulkan: the machine's loader if it has one, else the packed libvulkan1 (in $WORK, not /).
if [ "${VK_LOADER:-auto}" != packed ] && ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  log "Vulkan loader: the machine's ($(ldconfig -p | grep -m1 'libvulkan\.so\.1 ' | sed 's/.*=> //'))"
else
  deb=$(ls "$WORK"/debs/libvulkan1_*.deb | head -1)
  mkdir -p "$WORK/vk"
  if command -v dpkg >/dev/null; then dpkg -x "$deb" "$WORK/vk"; else (cd "$WORK/vk" && ar x "$deb" && tar -xf data.tar.*); fi
  export LD_LIBRARY_PATH="$WORK/vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  log "Vulkan loader: packed $(basename "$deb")"
fi
ICD=${GPU_ICD:-}
if [ -z "$ICD" ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && { ICD=$f; break; }
  done
fi
if [ -n "$ICD" ]; then
  export VK_DRIVER_FILES="$ICD" VK_ICD_FILENAMES="$ICD"
  log "Vulkan driver: $ICD"
else
  log "no NVIDIA Vulkan ICD found: the loader's default search"
fi
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/run: nvidia-smi: /' >&2

cd "$WORK/app"
status=0
step() { # step NAME LIMIT_S command...
  local name=$1 limit=$2
  shift 2
  log "== $name ($(date -u +%FT%TZ))"
  rm -f "$WORK/step.json"
  timeout "$limit" "$@" 2>&1 | grep --line-buffered -v 'artificially reduced' | tee -a "$RESULTS/run.log"
  local rc=${PIPESTATUS[0]}
  [ -f "$WORK/step.json" ] && cat "$WORK/step.json" >>"$RESULTS/results.jsonl"
  [ "$rc" = 0 ] || { log "$name: exit $rc$([ "$rc" = 124 ] && echo " (over ${limit} s)")"; status=1; }
}
BENCH=("$NODE" dist-bench/bench/main.js train --torch-device "${TORCH_DEVICE:-auto}" --json-out "$WORK/step.json")
for s in $STEPS; do
  case $s in
    device) step device 30 "$NODE" dist/cli.js device ;;
    kernels) step kernels "${T_KERNELS:-120}" "${BENCH[@]}" --kernels --runs "${RUNS:-5}" ;;
    models) # one process per model, so that a slow or failing one leaves the others' tables
      for m in ${MODELS:-dnn lenet vgg16 resnet18 birnn vit}; do
        step "model-$m" "${T_MODEL:-70}" "${BENCH[@]}" --model "$m" --image-size "${SIZE:-224}" --batch-size "${BATCH:-32}" --runs "${RUNS:-5}"
      done ;;
    *) log "unknown step $s"; status=1 ;;
  esac
done
log "results in $RESULTS"
exit $status
