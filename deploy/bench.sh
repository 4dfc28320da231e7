#!/usr/bin/env bash
# Prints the figures the closing notes report (lines starting with BENCH). Run as root on a clone after
# the README's two commands; each bench builds what it runs itself, within the reactor (-am), so nothing
# has to be installed in ~/.m2 first.
# Usage: deploy/bench.sh [core|autonomy|storage|snapshot-policy|cronjob|tunnel|metrics|cp-metrics|probes|config|release [N]|fleet [N]|all]
#   snapshot-policy  firing jitter of a snapshot policy on the node (p50/p99 over POLICY_FIRINGS, default 60,
#              firings every second on a loop-device volume)
#   cronjob    firing jitter of a run_on_edge CronJob on a real edge host (p50/p99 over CRONJOB_FIRINGS,
#              default 30, firings every 2 s; container start minus scheduled time)
#   release [N] an image update rolled over N simulated nodes (default 1000) in the default batches, and
#              the serving gap of a rolling update of one replica on one real host
#   fleet [N]  N simulated agents (default 10000) against the packaged control plane and a real etcd;
#              FLEET_IDLE_SECONDS (300) shortens the idle window, FLEET_METRICS_HISTORY_SECONDS (3600)
#              the simulated metrics history.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
what=${1:-all}
# Binaries the e2e benches run (control plane, agent, edgectl, storage driver, fleet simulator).
e2e_modules=control-plane,edge-agent,cli,storage-driver,fleet,e2e

# Everything a bench starts (Maven, its test JVM, etcd, the control plane, simulators) runs in a process
# group of its own, in a temp dir of its own: both go at the end, also on failure or Ctrl-C.
tmp=$(mktemp -d /tmp/edgeplane-bench.XXXXXX)
group=
cleanup() {
  if [[ -n $group ]] && kill -0 -- "-$group" 2>/dev/null; then
    kill -TERM -- "-$group" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 -- "-$group" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$group" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run MODULES TEST [maven args]: packages MODULES and what they need, running only TEST on the way.
run() {
  local modules=$1 test=$2
  shift 2
  setsid bash -c 'mvn -B -q -ntp package -pl "$0" -am -Dtest="$1" -Dsurefire.failIfNoSpecifiedTests=false \
      -DtrimStackTrace=false -DargLine="-Djava.io.tmpdir=$2" "${@:3}" 2>&1 \
    | grep --line-buffered -E "^BENCH|^fleet|ERROR|FAIL"' "$modules" "$test" "$tmp" "$@" &
  group=$!
  wait "$group" || true
  group=
}

case $what in
  core|all) run "$e2e_modules" CoreBench ;;&
  autonomy|all) run "$e2e_modules" AutonomyBench ;;&
  tunnel|all) run tunnel TunnelBench ;;&
  metrics|all) run edge-agent MetricsBench ;;&
  probes|all) run edge-agent ProbeBench ;;&
  config|all) run "$e2e_modules" ConfigBench ;;&
  release|all)
    ulimit -n "$(ulimit -Hn)"
    nodes=${2:-1000}
    [[ $what == all ]] && nodes=1000
    [[ $nodes =~ ^[0-9]+$ ]] || { echo "bench.sh release: N must be a number of nodes, not $nodes" >&2; exit 2; }
    run "$e2e_modules" 'ReleaseBench,ReleaseE2ETest#oneReplica*' -Dfleet.agents="$nodes" ;;&
  cp-metrics|metrics|all) run control-plane MetricsStoreBench ;;&
  cronjob|all) run "$e2e_modules" CronJobBench -Dcronjob.firings="${CRONJOB_FIRINGS:-30}" ;;&
  snapshot-policy|all) run edge-agent SnapshotPolicyBench -Dpolicy.firings="${POLICY_FIRINGS:-60}" ;;&
  storage|all)
    # The driver's own bench (a main on its test classpath): its modules installed first, so a fresh
    # clone resolves them, and the exec plugin fetched if this machine never had it.
    mvn -B -q -ntp -pl storage-driver -am install -DskipTests && mvn -B -q -ntp -pl storage-driver test-compile exec:java
    # growth of a published volume per filesystem (ext4, xfs, btrfs): BENCH storage fs=... expand_online_ms=...
    run edge-agent VolumeExpansionBench
    run "$e2e_modules" VolumeSnapshotBench ;;&
  fleet)
    agents=${2:-10000}
    [[ $agents =~ ^[0-9]+$ ]] || { echo "bench.sh fleet: N must be a number of agents, not $agents" >&2; exit 2; }
    # One socket per agent in the control plane and in the simulators: up to the hard limit (20,000 here).
    ulimit -n "$(ulimit -Hn)"
    if (( agents > $(ulimit -n) - 1000 )); then
      echo "bench.sh fleet: $agents agents need more open files than one control-plane process may have ($(ulimit -n))" >&2
    fi
    run "$e2e_modules" FleetBench -Dfleet.agents="$agents" \
      -Dfleet.idleSeconds="${FLEET_IDLE_SECONDS:-300}" -Dfleet.metricsHistorySeconds="${FLEET_METRICS_HISTORY_SECONDS:-3600}" ;;
esac
