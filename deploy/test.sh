#!/usr/bin/env bash
# Runs every test of Edgeplane against real components (etcd, containerd + runc, a registry, loop
# devices). Run as root on Debian 12; installs what is missing first. Extra arguments go to Maven,
# e.g. deploy/test.sh -pl edge-agent -am
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "test.sh: run as root (containerd, loop devices and mounts need it)" >&2; exit 1; }
"$repo/deploy/lib/install-deps.sh"
cd "$repo"
exec mvn -B -ntp ${MAVEN_ARGS:-} verify "$@"
