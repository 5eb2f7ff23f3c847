#!/usr/bin/env bash
# Builds the Kiln benchmark (Release) and runs it. Usage: bench/run.sh [gemm|small|lesson8|all|bdn] [--threads 1,2] [--time S] [--filter TEXT]
# The build patches TorchSharp's libLibTorchSharp.so for Debian 12's libstdc++ (see Kiln.Bench.csproj).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dotnet build -c Release "$here/Kiln.Bench/Kiln.Bench.csproj" -nologo -v quiet -clp:ErrorsOnly
# Which kernel source is being measured: last commit touching the kernels, and whether the tree differs from it.
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  echo "Kiln kernels: $(git -C "$repo" log -1 --format='%h %ad %s' --date=short -- src/Kiln/Kernels)"
  dirty="$(git -C "$repo" status --porcelain -- src/Kiln | tr '\n' ' ')"
  [ -n "$dirty" ] && echo "  (uncommitted changes under src/Kiln: $dirty)"
fi
# BENCH_QUIET_WAIT=SECONDS: first wait (up to that long) until the 1-minute load average is below 0.5, so other
# processes on this small machine don't skew the numbers.
if [ "${BENCH_QUIET_WAIT:-0}" -gt 0 ]; then
  end=$((SECONDS + BENCH_QUIET_WAIT))
  while [ $SECONDS -lt $end ] && awk '{exit !($1 >= 0.5)}' /proc/loadavg; do sleep 10; done
  echo "load average before start: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
exec dotnet "$here/Kiln.Bench/bin/Release/net10.0/Kiln.Bench.dll" "$@"
