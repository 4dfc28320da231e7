#!/usr/bin/env bash
# Prints the figures the closing notes report (lines starting with BENCH). Run as root after a
# build (deploy/test.sh or mvn package). Usage: deploy/bench.sh [core|autonomy|storage|tunnel|metrics|cp-metrics|all]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
what=${1:-all}
run() { mvn -B -q -ntp -o -pl "$1" test -Dtest="$2" -Dsurefire.failIfNoSpecifiedTests=false \
  -DtrimStackTrace=false 2>&1 | grep -E '^BENCH|ERROR|FAIL' || true; }
case $what in
  core|all) run e2e CoreBench ;;&
  autonomy|all) run e2e AutonomyBench ;;&
  tunnel|all) run tunnel TunnelBench ;;&
  metrics|all) run edge-agent MetricsBench ;;&
  cp-metrics|metrics|all) run control-plane MetricsStoreBench ;;&
  storage|all) mvn -B -q -ntp -o -pl storage-driver test-compile exec:java
    run e2e VolumeSnapshotBench ;;
esac
