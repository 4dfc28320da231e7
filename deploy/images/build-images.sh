#!/usr/bin/env bash
# Builds Edgeplane's two local images as OCI archives, without the internet:
#   OUTDIR/pause.tar    localhost/edgeplane/pause:1    catatonit -P (the pod sandbox image)
#   OUTDIR/busybox.tar  localhost/edgeplane/busybox:1  static busybox with its applet links
# Each archive's index tags its manifest "1", so
#   ctr -n k8s.io images import --base-name localhost/edgeplane/busybox OUTDIR/busybox.tar
# names it exactly localhost/edgeplane/busybox:1 with no extra import-DATE name to remove (removing names
# leaves a stale cache in containerd 1.6's CRI plugin). `--index-name NAME` works too, plus that extra name.
# Push with  skopeo copy oci-archive:OUTDIR/busybox.tar docker://HOST/edgeplane/busybox:1
# Idempotent: an OUTDIR built from the same inputs is left alone. Needs umoci, busybox-static, catatonit.
set -euo pipefail

OUT=${1:?usage: build-images.sh OUTDIR}
BUSYBOX=${BUSYBOX:-/bin/busybox}
CATATONIT=${CATATONIT:-/usr/bin/catatonit}
for tool in umoci tar sha256sum flock; do
  command -v "$tool" >/dev/null || { echo "build-images.sh: $tool not found (apt-get install umoci)" >&2; exit 1; }
done
[ -x "$BUSYBOX" ] || { echo "build-images.sh: $BUSYBOX missing (apt-get install busybox-static)" >&2; exit 1; }
[ -x "$CATATONIT" ] || { echo "build-images.sh: $CATATONIT missing (apt-get install catatonit)" >&2; exit 1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Several test JVMs (and the quick start) may build into the same dir at once.
exec 9>"$OUT/.lock"
flock 9

stamp=$(cat "$0" "$BUSYBOX" "$CATATONIT" | sha256sum | cut -c1-64)
if [ -f "$OUT/pause.tar" ] && [ -f "$OUT/busybox.tar" ] && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/edgeplane-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# new_image NAME: an empty image NAME:1 in layout $work/NAME, unpacked at $work/NAME.bundle
new_image() {
  umoci init --layout "$work/$1"
  umoci new --image "$work/$1:1"
  umoci unpack --rootless --image "$work/$1:1" "$work/$1.bundle" >/dev/null
}

# repack NAME: the bundle's rootfs becomes a new layer (run before umoci config: repack rewrites the config)
repack() {
  umoci repack --image "$work/$1:1" "$work/$1.bundle" >/dev/null
}

# finish_image NAME: write $OUT/NAME.tar atomically
finish_image() {
  umoci gc --layout "$work/$1"
  tar -C "$work/$1" -cf "$work/$1.tar" oci-layout index.json blobs
  mv -f "$work/$1.tar" "$OUT/$1.tar"
}

# pause: catatonit as PID 1 of the sandbox, reaping zombies and waiting for a signal.
new_image pause
install -m 0755 "$CATATONIT" "$work/pause.bundle/rootfs/catatonit"
repack pause
umoci config --image "$work/pause:1" --config.entrypoint /catatonit --config.entrypoint -P \
  --config.user 0:0 >/dev/null
finish_image pause

# busybox: one static binary plus a link per applet (/bin/sh, /bin/sleep, /usr/bin/wget, ...).
new_image busybox
root="$work/busybox.bundle/rootfs"
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/tmp" "$root/etc" "$root/root" "$root/var/www"
chmod 1777 "$root/tmp"
install -m 0755 "$BUSYBOX" "$root/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  [ -e "$root/$applet" ] || ln "$root/bin/busybox" "$root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
repack busybox
umoci config --image "$work/busybox:1" --config.cmd /bin/sh --config.user 0:0 \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
finish_image busybox

echo "$stamp" >"$OUT/.stamp"
echo "build-images.sh: wrote $OUT/pause.tar and $OUT/busybox.tar"
