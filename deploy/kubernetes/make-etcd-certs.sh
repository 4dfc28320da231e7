#!/usr/bin/env bash
# Makes the certificates etcd.yaml and control-plane.yaml mount, with openssl (EC P-256, PEM):
#   ca.crt/.key            client CA: signs etcd's server certificate and the control plane's client one
#   server.crt/.key        etcd's serving certificate for the StatefulSet's DNS names (+ localhost)
#   peer-ca.crt/.key       peer CA: signs only the members' peer certificate, so no client passes as a member
#   peer.crt/.key          the members' peer certificate (server and client auth between members)
#   client.crt/.key        the control plane's client certificate
# and prints the kubectl commands that put them in the Secrets etcd-tls and etcd-client. The two CA keys
# stay in DIR: keep them offline (they are needed only to issue certificates again), never in the cluster.
#
#   deploy/kubernetes/make-etcd-certs.sh [DIR]     (default DIR: ./etcd-certs; refuses to overwrite)
# Environment: NAMESPACE (edgeplane), SERVICE (etcd, the headless Service), MEMBERS (3), DAYS (825,
# the leaf certificates' lifetime; the CAs get 10 years), CLUSTER_DOMAIN (cluster.local).
set -euo pipefail

dir=${1:-etcd-certs}
namespace=${NAMESPACE:-edgeplane}
service=${SERVICE:-etcd}
members=${MEMBERS:-3}
days=${DAYS:-825}
cluster_domain=${CLUSTER_DOMAIN:-cluster.local}

command -v openssl >/dev/null || { echo "make-etcd-certs.sh: openssl is needed" >&2; exit 1; }
[[ -e $dir/ca.key || -e $dir/peer-ca.key ]] && { echo "make-etcd-certs.sh: $dir already holds CA keys; not overwriting" >&2; exit 1; }
umask 077 # keys are readable by their owner only
mkdir -p "$dir"

# Every name a client or peer may dial a member by: each pod's stable name (short and fully qualified),
# the headless Service, and localhost for etcdctl inside a pod.
sans="DNS:localhost,IP:127.0.0.1,DNS:$service.$namespace.svc,DNS:$service.$namespace.svc.$cluster_domain"
sans+=",DNS:*.$service.$namespace.svc,DNS:*.$service.$namespace.svc.$cluster_domain"
for ((i = 0; i < members; i++)); do
  sans+=",DNS:$service-$i.$service.$namespace.svc,DNS:$service-$i.$service.$namespace.svc.$cluster_domain"
done

ca() { # NAME COMMON_NAME
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -days 3650 \
    -subj "/O=Edgeplane/CN=$2" -keyout "$dir/$1.key" -out "$dir/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

leaf() { # NAME CA COMMON_NAME EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/O=Edgeplane/CN=$3" \
    -keyout "$dir/$1.key" -out "$dir/$1.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$4"
    if [[ -n ${5:-} ]]; then echo "subjectAltName=$5"; fi
  } >"$dir/$1.ext"
  openssl x509 -req -in "$dir/$1.csr" -CA "$dir/$2.crt" -CAkey "$dir/$2.key" -set_serial "0x$(openssl rand -hex 16)" \
    -sha256 -days "$days" -extfile "$dir/$1.ext" -out "$dir/$1.crt" 2>/dev/null
  rm "$dir/$1.csr" "$dir/$1.ext"
}

ca ca edgeplane-etcd-ca
ca peer-ca edgeplane-etcd-peer-ca
# serverAuth for clients; clientAuth too, because etcd's own HTTP gateway dials its gRPC port with it.
leaf server ca etcd serverAuth,clientAuth "$sans"
leaf peer peer-ca etcd-peer serverAuth,clientAuth "$sans"
leaf client ca edgeplane-control-plane clientAuth

for cert in server peer client; do
  openssl verify -CAfile "$dir/$([[ $cert == peer ]] && echo peer-ca || echo ca).crt" "$dir/$cert.crt" >/dev/null
done

cat <<EOF
Wrote $dir/{ca,peer-ca,server,peer,client}.{crt,key}. Create the Secrets (and keep $dir/ca.key and
$dir/peer-ca.key somewhere safe, outside the cluster):

kubectl -n $namespace create secret generic etcd-tls \\
  --from-file=ca.crt=$dir/ca.crt --from-file=server.crt=$dir/server.crt --from-file=server.key=$dir/server.key \\
  --from-file=peer-ca.crt=$dir/peer-ca.crt --from-file=peer.crt=$dir/peer.crt --from-file=peer.key=$dir/peer.key
kubectl -n $namespace create secret generic etcd-client \\
  --from-file=ca.crt=$dir/ca.crt --from-file=client.crt=$dir/client.crt --from-file=client.key=$dir/client.key
EOF
