#!/usr/bin/env bash
# Edgeplane quick start on one Debian 12 machine (run as root):
#   deploy/quickstart.sh        install what is missing, build, start etcd, containerd, a local
#                               registry, the control plane and one joined agent, deploy a sample app
#   deploy/quickstart.sh down   stop everything it started (containers included); data is kept
#   deploy/quickstart.sh purge  down, then delete all its data
#   deploy/quickstart.sh --with-prometheus   also run Debian's Prometheus and Alertmanager with the
#                               fleet's alerting rules (deploy/prometheus; EDGEPLANE_PROMETHEUS=1 too)
# Safe to run twice: what already runs is left alone.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
home=${EDGEPLANE_HOME:-/var/lib/edgeplane-quickstart}
run=${EDGEPLANE_RUN:-/run/edgeplane-quickstart}
api_port=${EDGEPLANE_API_PORT:-8443}
agent_port=${EDGEPLANE_AGENT_PORT:-7443}
etcd_port=${EDGEPLANE_ETCD_PORT:-2379}
registry_port=${EDGEPLANE_REGISTRY_PORT:-5000}
node_name=${EDGEPLANE_NODE_NAME:-edge-1}
with_prometheus=${EDGEPLANE_PROMETHEUS:-0}
prometheus_port=${EDGEPLANE_PROMETHEUS_PORT:-9090}
alertmanager_port=${EDGEPLANE_ALERTMANAGER_PORT:-9093}
logs=$home/logs
containerd_sock=$run/containerd.sock

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

alive() { [[ -f $run/$1.pid ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

# start NAME COMMAND...: runs COMMAND in the background, logging to $logs/NAME.log.
start() {
  local name=$1; shift
  if alive "$name"; then echo "    $name already running (pid $(cat "$run/$name.pid"))"; return; fi
  setsid "$@" >>"$logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$run/$name.pid"
  echo "    $name started (pid $!, log $logs/$name.log)"
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$what did not come up within ${secs}s; see $logs"
}

stop() {
  local name=$1
  if alive "$name"; then
    local pid; pid=$(cat "$run/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "    $name stopped"
  fi
  rm -f "$run/$name.pid"
}

down() {
  say "Stopping the quick start"
  stop prometheus
  stop alertmanager
  stop edge-agent
  stop control-plane
  if alive containerd; then
    # The agent's pods belong to the host, not the agent process: remove them explicitly.
    for id in $(ctr --address "$containerd_sock" -n k8s.io tasks list -q 2>/dev/null); do
      ctr --address "$containerd_sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    sleep 1
    for id in $(ctr --address "$containerd_sock" -n k8s.io containers list -q 2>/dev/null); do
      ctr --address "$containerd_sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
      ctr --address "$containerd_sock" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  stop containerd
  stop registry
  stop etcd
  # Leftover sandbox mounts (shm, rootfs) under containerd's dirs.
  { grep -oE " ($home|$run)/[^ ]*" /proc/mounts || true; } | sort -r \
    | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

command=up
for arg in "$@"; do
  case $arg in
    --with-prometheus) with_prometheus=1 ;;
    *) command=$arg ;;
  esac
done
case $command in
  down) down; exit 0 ;;
  purge)
    down
    # Volumes' loop devices (their backing files are about to go): detached, or they outlive the files.
    { losetup -a 2>/dev/null | grep -F "($home/" || true; } | cut -d: -f1 \
      | while read -r d; do losetup -d "$d" 2>/dev/null || true; done
    rm -rf "$home" "$run"; echo "    data removed"; exit 0 ;;
  up) ;;
  *) die "usage: $0 [up|down|purge] [--with-prometheus]" ;;
esac

[[ $(id -u) == 0 ]] || die "run as root (containerd, etcd and the agent need it)"
mkdir -p "$home" "$run" "$logs"
chmod 700 "$home"

say "Installing what is missing"
"$repo/deploy/lib/install-deps.sh"

say "Building (mvn package, tests skipped: run deploy/test.sh for those)"
(cd "$repo" && mvn -q -B -DskipTests package)

say "Starting etcd on 127.0.0.1:$etcd_port"
# Plain http, no client certificates: both of etcd's ports listen on 127.0.0.1 only, so only processes
# on this machine reach it (it runs as root here anyway). Anything beyond one machine uses mutual TLS:
# deploy/kubernetes/README.md "etcd over TLS" and control-plane/README.md "etcd over TLS".
start etcd etcd --name quickstart --data-dir "$home/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
  --initial-cluster "quickstart=http://127.0.0.1:$((etcd_port + 1))" \
  --auto-compaction-mode=periodic --auto-compaction-retention=1h \
  --quota-backend-bytes=4294967296 \
  --experimental-watch-progress-notify-interval=1m
# The same etcd flags as deploy/kubernetes/etcd.yaml and the tests (testkit EtcdServer.PRODUCTION_FLAGS):
# hourly compaction (agents offline up to an hour resume from history), a 4 GiB quota, and progress
# notifications every minute so idle agents' resume cursors follow etcd (default 10m).
wait_for etcd 30 etcdctl --endpoints "127.0.0.1:$etcd_port" endpoint health

say "Building the images (pause and busybox, without the internet)"
"$repo/deploy/images/build-images.sh" "$home/images"

say "Starting containerd (its own root, state and socket: $containerd_sock)"
sed -e "s#@ROOT@#$home/containerd/root#g" -e "s#@STATE@#$run/containerd/state#g" \
    -e "s#@ADDRESS@#$containerd_sock#g" -e "s#@SANDBOX_IMAGE@#localhost/edgeplane/pause:1#g" \
    "$repo/deploy/containerd/config.toml.template" > "$home/containerd.toml"
start containerd containerd --config "$home/containerd.toml"
wait_for containerd 30 ctr --address "$containerd_sock" version
if ! ctr --address "$containerd_sock" -n k8s.io images ls -q | grep -qx localhost/edgeplane/pause:1; then
  # --base-name makes exactly that name (the archive carries the tag) and no extra import-DATE
  # name, whose removal would leave a stale name in the CRI plugin's cache.
  ctr --address "$containerd_sock" -n k8s.io images import --base-name localhost/edgeplane/pause \
    "$home/images/pause.tar" >/dev/null
fi

say "Starting a local image registry on 127.0.0.1:$registry_port"
mkdir -p "$home/registry"
cat > "$home/registry.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $home/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$registry_port}
YML
start registry docker-registry serve "$home/registry.yml"
wait_for registry 30 curl -fsS "http://127.0.0.1:$registry_port/v2/"
skopeo copy --quiet --dest-tls-verify=false "oci-archive:$home/images/busybox.tar" \
  "docker://127.0.0.1:$registry_port/edgeplane/busybox:1"

say "Starting the control plane (API https://127.0.0.1:$api_port, agents 127.0.0.1:$agent_port)"
mkdir -p "$home/control-plane"
# The key-encryption key that seals Secrets at rest: made once, kept with the admin token, never in etcd
# (control-plane/README.md "Secrets and key rotation"). Losing it loses every Secret.
secrets_keys=$home/control-plane/secrets-keys
if [[ ! -s $secrets_keys ]]; then
  (umask 077; printf 'k1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" > "$secrets_keys")
  echo "    generated the secrets key-encryption key $secrets_keys (id k1)"
fi
chmod 600 "$secrets_keys"
# Everything listens on loopback only (one machine). The public API speaks TLS only, with a certificate
# of a CA made here once (an operator's own certificate files go in the same two settings;
# control-plane/README.md "TLS on the public API"). To join other hosts, set EDGEPLANE_AGENT_HOST and
# EDGEPLANE_AGENT_ADVERTISE to this host's reachable address.
api_tls=$home/control-plane/api-tls
if [[ ! -s $api_tls/server.crt ]]; then
  mkdir -p "$api_tls"
  (umask 077; cd "$api_tls"
   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
     -subj "/CN=edgeplane-quickstart-api-ca" -keyout ca.key -out ca.crt 2>/dev/null
   openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
     -keyout server.key -out server.csr 2>/dev/null
   printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
   openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
     -extfile server.ext -out server.crt 2>/dev/null
   rm -f server.csr server.ext)
  chmod 644 "$api_tls/ca.crt"
  echo "    made the API's TLS certificate ($api_tls, CA $api_tls/ca.crt)"
fi
start control-plane env EDGEPLANE_ETCD_ENDPOINTS="http://127.0.0.1:$etcd_port" \
  QUARKUS_HTTP_HOST=127.0.0.1 QUARKUS_HTTP_SSL_PORT="$api_port" QUARKUS_HTTP_INSECURE_REQUESTS=disabled \
  QUARKUS_HTTP_SSL_CERTIFICATE_FILES="$api_tls/server.crt" QUARKUS_HTTP_SSL_CERTIFICATE_KEY_FILES="$api_tls/server.key" \
  EDGEPLANE_AGENT_HOST="${EDGEPLANE_AGENT_HOST:-127.0.0.1}" EDGEPLANE_AGENT_PORT="$agent_port" \
  EDGEPLANE_AGENT_ADVERTISE="${EDGEPLANE_AGENT_ADVERTISE:-127.0.0.1:$agent_port}" \
  EDGEPLANE_ADMIN_TOKEN_FILE="$home/control-plane/admin-token" \
  EDGEPLANE_SECRETS_KEY_FILE="$secrets_keys" \
  "$repo/control-plane/target/bin/control-plane"
wait_for control-plane 90 curl -fsS --cacert "$api_tls/ca.crt" "https://127.0.0.1:$api_port/q/health/ready"

# Without edgectl's daemon: `quickstart.sh down` leaves nothing of the quick start's running (the operator's own
# commands start the daemon, theirs).
edgectl() { EDGECTL_DAEMON=off "$repo/cli/target/bin/edgectl" --server "127.0.0.1:$api_port" --ca-file "$api_tls/ca.crt" \
  --token-file "$home/control-plane/admin-token" "$@"; }

agent_state=$home/agent
if [[ ! -f $agent_state/node.crt ]]; then
  say "Joining this host as node '$node_name' with a fresh single-use token"
  join_command=$(edgectl token create --ttl 15m --description quickstart)
  echo "    $join_command"
  # The join command names the agent binary; run the one we just built.
  eval "\"$repo/edge-agent/target/bin/edge-agent\" ${join_command#edge-agent } --name $node_name --state-dir $agent_state"
else
  say "Node '$node_name' already joined ($agent_state)"
fi

say "Starting the edge agent"
start edge-agent "$repo/edge-agent/target/bin/edge-agent" run --state-dir "$agent_state" \
  --cri-endpoint "unix://$containerd_sock" --log-dir "$home/pod-logs"
wait_for "node $node_name Ready" 60 sh -c "EDGECTL_DAEMON=off \"$repo/cli/target/bin/edgectl\" --server 127.0.0.1:$api_port --ca-file $api_tls/ca.crt --token-file $home/control-plane/admin-token get node $node_name | grep -q READY"

if [[ $with_prometheus == 1 ]]; then
  say "Starting Prometheus (127.0.0.1:$prometheus_port) and Alertmanager (127.0.0.1:$alertmanager_port) with deploy/prometheus"
  mkdir -p "$home/prometheus"
  cp "$repo/deploy/prometheus/edgeplane-rules.yml" "$repo/deploy/prometheus/alertmanager.yml" "$home/prometheus/"
  sed -e "s#/var/lib/edgeplane-quickstart/control-plane/api-tls/ca.crt#$api_tls/ca.crt#" \
      -e "s#127.0.0.1:8443#127.0.0.1:$api_port#" -e "s#127.0.0.1:9093#127.0.0.1:$alertmanager_port#" \
      "$repo/deploy/prometheus/prometheus.yml" > "$home/prometheus/prometheus.yml"
  start alertmanager prometheus-alertmanager --config.file="$home/prometheus/alertmanager.yml" \
    --storage.path="$home/prometheus/alertmanager-data" --web.listen-address="127.0.0.1:$alertmanager_port" \
    --cluster.listen-address=
  start prometheus prometheus --config.file="$home/prometheus/prometheus.yml" \
    --storage.tsdb.path="$home/prometheus/data" --web.listen-address="127.0.0.1:$prometheus_port" \
    --web.enable-remote-write-receiver
  wait_for alertmanager 30 curl -fsS "http://127.0.0.1:$alertmanager_port/-/ready"
  wait_for prometheus 30 curl -fsS "http://127.0.0.1:$prometheus_port/-/ready"
fi

say "Deploying the sample app (deploy/examples/hello-web.yaml)"
edgectl apply -f "$repo/deploy/examples/hello-web.yaml"
edgectl wait app hello-web --timeout 120s
wait_for "hello-web answering on :8088" 30 curl -fsS http://127.0.0.1:8088/

cat <<MSG

$(tput bold 2>/dev/null)Edgeplane is running.$(tput sgr0 2>/dev/null)
  curl http://127.0.0.1:8088/          -> $(curl -fsS http://127.0.0.1:8088/)

  Web console: https://127.0.0.1:$api_port/console/   (docs/console.md)
    sign in with the admin token in $home/control-plane/admin-token; the certificate is signed by
    $api_tls/ca.crt (trust it in the browser, or accept the warning once)

  export EDGECTL_SERVER=127.0.0.1:$api_port EDGECTL_CA_FILE=$api_tls/ca.crt EDGECTL_TOKEN_FILE=$home/control-plane/admin-token
  $repo/cli/target/bin/edgectl get nodes
  $repo/cli/target/bin/edgectl get apps
  $repo/cli/target/bin/edgectl get app hello-web -o yaml
  $repo/cli/target/bin/edgectl get events                 # what happened, aggregated
  $repo/cli/target/bin/edgectl top nodes                  # metrics: the first upload comes after a minute
  $repo/cli/target/bin/edgectl logs hello-web
  curl -s --cacert $api_tls/ca.crt https://127.0.0.1:$api_port/metrics | head   # Prometheus text format

  With grpcurl (server reflection is on; the admin token is in $home/control-plane/admin-token):
  grpcurl -cacert $api_tls/ca.crt 127.0.0.1:$api_port list
  grpcurl -cacert $api_tls/ca.crt -H "authorization: Bearer \$(cat $home/control-plane/admin-token)" \\
      127.0.0.1:$api_port edgeplane.v1.NodeService/ListNodes
  grpcurl -cacert $api_tls/ca.crt -H "authorization: Bearer \$(cat $home/control-plane/admin-token)" \\
      -d '{"namespace":"default","name":"hello-web"}' 127.0.0.1:$api_port edgeplane.v1.AppService/GetApp

$(if [[ $with_prometheus == 1 ]]; then
  echo "  Prometheus: http://127.0.0.1:$prometheus_port/alerts   Alertmanager: http://127.0.0.1:$alertmanager_port/"
  echo "  (rules and routing: $repo/deploy/prometheus, docs/alerting.md)"
fi)

  Containers, through containerd's own client: ctr --address $containerd_sock -n k8s.io containers ls
  Logs: $logs    Stop everything: $repo/deploy/quickstart.sh down
MSG
