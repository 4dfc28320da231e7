#!/usr/bin/env bash
# Prints the figures the closing notes report (lines starting with BENCH). Run as root on a clone after
# the README's two commands; each bench builds what it runs itself, within the reactor (-am), so nothing
# has to be installed in ~/.m2 first.
# Usage: deploy/bench.sh [core|edge|autonomy|console|storage|snapshot-policy|cronjob|tunnel|tunnel-path|metrics|cp-metrics|probes|config|scale|release [N]|fleet [N]|remote-write [N]|edgectl|all]
#   edge       one real agent (the packaged launcher, default features) on containerd with runc: CreateApp to
#              RUNNING through WatchApps, p50/p99 over EDGE_RUNS (100) one-replica apps, image present, against
#              the bare CRI RunPodSandbox + CreateContainer + StartContainer of the same pod (same socket,
#              the agent's own CRI client); agent RSS idle and with 20 replicas; idle bits per second on
#              the agent's socket at the control plane over EDGE_IDLE_SECONDS (300): one `BENCH edge` line
#   tunnel     the tunnel module's TunnelBench: operator client, hub and agent in one JVM over loopback
#              (BENCH tunnel.* lines and the summary `BENCH tunnel port_forward_ratio_1=...`)
#   tunnel-path  port-forward through the real processes (public API, control plane, agent over mutual
#              TLS) against direct loopback TCP: BENCH tunnel.real_path
#   edgectl    `edgectl get nodes` (EDGECTL_BENCH_RUNS, default 30 each): answered by a warm edgectl daemon
#              (daemon=on, as an operator's second and later commands are), then in a JVM of its own
#              (daemon=off) with and without the start-up archive: against the quick start when it runs, else
#              against StartupTraining's stand-in TLS server (the client's own cost either way: a list of one
#              or two nodes). The daemon is the bench's own (a private XDG_RUNTIME_DIR), stopped at the end. The archive is the
#              JDK 17 class-data sharing one `mvn package` trains (cds), or JDK 25's AOT cache (aot) when only
#              that was made (-Dedgectl.aot.jdk); the launcher's JVM flags as shipped (C1 only,
#              CompileThresholdScaling=3, Serial GC). Wall times move with the load average printed on each
#              line (2 shared cores); cpu_ms_p50 (user+sys) is the steadier figure (cli/README.md, "Start-up").
#   console    the web console's page load in headless Chromium (navigation to the overview's data drawn,
#              median of 5), from ConsoleE2ETest (needs chromium: deploy/lib/install-deps.sh)
#   snapshot-policy  firing jitter of a snapshot policy on the node (p50/p99 over POLICY_FIRINGS, default 60,
#              firings every second on a loop-device volume)
#   cronjob    firing jitter of a run_on_edge CronJob on a real edge host (p50/p99 over CRONJOB_FIRINGS,
#              default 30, firings every 2 s; container start minus scheduled time)
#   scale      an Autoscaler on a CPU burner on one real host, default periods: seconds from load to the
#              autoscaler's decision (detect_s) and to the new replica running (running_s); SCALE_RUNS (3),
#              SCALE_METRICS_FLUSH (the agent's --metrics-flush, default 60s)
#   release [N] an image update rolled over N simulated nodes (default 1000) in the default batches, and
#              the serving gap of a rolling update of one replica on one real host
#   remote-write [N]  remote-write throughput to VictoriaMetrics with N simulated agents (default 1000)
#              uploading REMOTE_WRITE_HISTORY_SECONDS (600) of past metrics each
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

# edgectl_bench: wall (p50, p90), CPU (user+sys) and peak RSS of RUNS `edgectl get nodes`, with and without its archive.
edgectl_bench() {
  [[ -x /usr/bin/time ]] || { echo "bench.sh edgectl: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
  mvn -B -q -ntp -pl cli -am package -DskipTests
  local runs=${EDGECTL_BENCH_RUNS:-30} bin=$repo/cli/target/bin/edgectl target qs=/var/lib/edgeplane-quickstart/control-plane
  if [[ -r $qs/admin-token ]] && (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null; then
    target=quickstart
    export EDGECTL_SERVER=127.0.0.1:8443 EDGECTL_CA_FILE=$qs/api-tls/ca.crt EDGECTL_TOKEN_FILE=$qs/admin-token
  else
    target=stand-in
    local training=$repo/cli/target/startup-training
    setsid java -cp "$repo/cli/target/edgectl.jar" dev.edgeplane.cli.StartupTraining "$training/server.p12" "$training/ca.crt" \
      --serve="$tmp/port" >"$tmp/stand-in.log" 2>&1 &
    group=$!
    for _ in $(seq 300); do [[ -s $tmp/port ]] && break; sleep 0.1; done
    [[ -s $tmp/port ]] || { echo "bench.sh edgectl: the stand-in server did not start" >&2; cat "$tmp/stand-in.log" >&2; exit 1; }
    export EDGECTL_SERVER=127.0.0.1:$(cat "$tmp/port") EDGECTL_CA_FILE=$training/ca.crt EDGECTL_TOKEN=bench EDGECTL_CONFIG=$tmp/none.yaml
  fi
  local archive=none
  [[ -f $repo/cli/target/edgectl.jsa ]] && archive=cds
  [[ $archive == none && -f $repo/cli/target/edgectl.aot ]] && archive=aot
  export XDG_RUNTIME_DIR=$tmp/run
  mkdir -m 700 "$XDG_RUNTIME_DIR"
  # the first get runs in its own JVM and starts the daemon; a few more warm the daemon's code
  EDGECTL_DAEMON=on "$bin" get nodes >/dev/null
  for _ in $(seq 100); do "$bin" daemon status | grep -q running && break; sleep 0.1; done
  for _ in 1 2 3 4 5; do EDGECTL_DAEMON=on "$bin" get nodes >/dev/null; done
  for mode in daemon "$archive" none; do
    : >"$tmp/runs"
    for _ in $(seq "$runs"); do
      local start end
      start=$(date +%s%N)
      case $mode in
        daemon) EDGECTL_DAEMON=on /usr/bin/time -f "%U %S %M" -o "$tmp/time" "$bin" get nodes >/dev/null ;;
        none) EDGECTL_DAEMON=off EDGECTL_NO_ARCHIVE=1 /usr/bin/time -f "%U %S %M" -o "$tmp/time" "$bin" get nodes >/dev/null ;;
        *) EDGECTL_DAEMON=off /usr/bin/time -f "%U %S %M" -o "$tmp/time" "$bin" get nodes >/dev/null ;;
      esac
      end=$(date +%s%N)
      echo "$(( (end - start) / 1000000 )) $(tail -1 "$tmp/time")" >>"$tmp/runs"
    done
    local daemon=off archive_used=$mode
    [[ $mode == daemon ]] && daemon=on archive_used=$archive
    # nearest-rank percentiles of wall ms; medians of CPU ms and peak RSS (the client's: the daemon's are its own)
    awk -v n="$runs" -v mode="$archive_used" -v daemon="$daemon" -v target="$target" '
      { wall[NR] = $1; cpu[NR] = ($2 + $3) * 1000; rss[NR] = $4 / 1024 }
      function sort(a,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
      END { sort(wall); sort(cpu); sort(rss)
            printf "BENCH edgectl daemon=%s archive=%s target=%s get_nodes_ms_p50=%d get_nodes_ms_p90=%d cpu_ms_p50=%d rss_mib=%d runs=%d load=%s\n",
              daemon, mode, target, wall[int((n+1)/2)], wall[int(n*0.9+0.999)], cpu[int((n+1)/2)], rss[int((n+1)/2)], n, load }
    ' load="$(cut -d' ' -f1 /proc/loadavg)" "$tmp/runs"
  done
  local daemon_pid
  daemon_pid=$("$bin" daemon status | sed -n 's/^edgectl daemon \([0-9]*\) running.*/\1/p')
  [[ -n $daemon_pid ]] && echo "BENCH edgectl daemon_rss_mib=$(( $(awk '/VmRSS/ {print $2}' /proc/"$daemon_pid"/status) / 1024 ))"
  "$bin" daemon stop >/dev/null
}

case $what in
  edgectl) edgectl_bench ;;
  core|all) run "$e2e_modules" CoreBench ;;&
  edge|all) run "$e2e_modules" EdgeBench -Dedge.runs="${EDGE_RUNS:-100}" -Dedge.idleSeconds="${EDGE_IDLE_SECONDS:-300}" ;;&
  autonomy|all) run "$e2e_modules" AutonomyBench ;;&
  tunnel|all) run tunnel TunnelBench ;;&
  tunnel-path|all) run "$e2e_modules" TunnelPathBench ;;&
  metrics|all) run edge-agent MetricsBench ;;&
  probes|all) run edge-agent ProbeBench ;;&
  config|all) run "$e2e_modules" ConfigBench ;;&
  console|all) run "$e2e_modules" ConsoleE2ETest ;;&
  scale|all) run "$e2e_modules" AutoscaleBench -Dscale.runs="${SCALE_RUNS:-3}" -Dscale.flush="${SCALE_METRICS_FLUSH:-60s}" ;;&
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
  remote-write)
    ulimit -n "$(ulimit -Hn)"
    agents=${2:-1000}
    [[ $agents =~ ^[0-9]+$ ]] || { echo "bench.sh remote-write: N must be a number of agents, not $agents" >&2; exit 2; }
    run "$e2e_modules" RemoteWriteBench -DremoteWrite.agents="$agents" \
      -DremoteWrite.historySeconds="${REMOTE_WRITE_HISTORY_SECONDS:-600}" ;;
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
