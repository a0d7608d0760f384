#!/usr/bin/env bash
# Runs on a GPU machine that has no Node.js: unpacks a carried node tarball, checks the NVML binding
# against the real driver (scripts/gpu-check.ts), cross-checks with nvidia-ml-py, and writes everything to
# $OUT (default ./device-out). Usage: bash scripts/device-check.sh [NODE_TARBALL.tar.xz]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-device-out}
mkdir -p "$out"
if ! command -v node >/dev/null 2>&1; then
  tarball=${1:-node.tar.xz}
  mkdir -p /tmp/node && tar -xJf "$tarball" -C /tmp/node --strip-components=1
  export PATH=/tmp/node/bin:$PATH
fi
nvidia-smi --query-gpu=index,name,uuid,driver_version,clocks.max.sm,power.draw --format=csv > "$out/nvidia-smi.csv" || true
status=0
node --import tsx scripts/gpu-check.ts --out "$out/gpu-check.json" 2> "$out/gpu-check.txt" || status=$?
python3 - > "$out/nvml-py.json" <<'PY' || true
import json, pynvml
pynvml.nvmlInit()
out = []
for i in range(pynvml.nvmlDeviceGetCount()):
    h = pynvml.nvmlDeviceGetHandleByIndex(i)
    mem = max(pynvml.nvmlDeviceGetSupportedMemoryClocks(h))
    out.append({"index": i, "uuid": pynvml.nvmlDeviceGetUUID(h), "graphicsClocksMhz": sorted(pynvml.nvmlDeviceGetSupportedGraphicsClocks(h, mem), reverse=True),
                "energyMj": pynvml.nvmlDeviceGetTotalEnergyConsumption(h), "powerMw": pynvml.nvmlDeviceGetPowerUsage(h)})
print(json.dumps(out, indent=2))
PY
# Leave no clock locked, whatever happened above.
nvidia-smi -rgc >/dev/null 2>&1 || true
cat "$out/gpu-check.txt"
exit "$status"
