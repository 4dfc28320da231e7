#!/usr/bin/env bash
# Installs the Debian packages Edgeplane builds and tests with. Idempotent: does nothing (and does
# not touch apt) when everything is present. Run as root.
set -euo pipefail

packages=(
  openjdk-17-jdk-headless maven            # build
  etcd-server etcd-client                  # the control plane's store
  containerd runc                          # the edge runtime (CRI)
  umoci busybox-static catatonit skopeo    # building images without the internet
  docker-registry                          # a local image registry
  iproute2 openssh-server                  # network namespaces, ssh targets
  util-linux e2fsprogs xfsprogs btrfs-progs # loop devices and filesystems for volumes
  curl procps psmisc
  openssl                                  # deploy/kubernetes/make-etcd-certs.sh; tests check what it makes
  python3-prometheus-client                # tests parse /metrics with Prometheus's own text parser
  prometheus prometheus-alertmanager       # alerting rules and routing (deploy/prometheus), remote-write
  victoria-metrics                         # a second remote-write receiver
)
# The web console: its build runs `npm ci` (control-plane/src/main/console), its e2e test drives Debian's
# headless chromium with playwright-core (e2e/src/test/console). Node.js from Debian unless one is there.
command -v npm >/dev/null || packages+=(nodejs npm)
packages+=(chromium)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged services must not hold the default ports or sockets we use; we run our own copies.
for svc in etcd containerd docker-registry prometheus prometheus-alertmanager victoria-metrics; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
