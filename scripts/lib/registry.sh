# Shell helpers for the demo and the benchmark: run CNCF Distribution on a
# free loopback port and push tiny valid OCI images through its HTTP API.
# Source this file; it needs curl, sha256sum and python3.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# registry_start DIR -> sets REGISTRY (host:port) and REGISTRY_PID
registry_start() {
    local dir=$1 port
    port=$(free_port)
    mkdir -p "$dir/storage"
    cat >"$dir/config.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $dir/storage}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$port
  secret: imagebump-local-registry
YML
    docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    REGISTRY_PID=$!
    REGISTRY=127.0.0.1:$port
    for _ in $(seq 1 100); do
        curl -fs "http://$REGISTRY/v2/" >/dev/null && return 0
        sleep 0.05
    done
    echo "registry did not start; see $dir/registry.log" >&2
    return 1
}

_blob_upload() { # repo file -> prints digest
    local repo=$1 file=$2 digest location
    digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
    location=$(curl -fsS -X POST -D - -o /dev/null "http://$REGISTRY/v2/$repo/blobs/uploads/" |
        tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
    case $location in http*) ;; *) location="http://$REGISTRY$location" ;; esac
    case $location in *\?*) sep='&' ;; *) sep='?' ;; esac
    curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
        "$location${sep}digest=$digest" -o /dev/null
    echo "$digest"
}

# push_image REPO TAG: a one-layer image whose config names the tag.
push_image() {
    local repo=$1 tag=$2 tmp cfg layer cd ld cs ls
    tmp=$(mktemp -d)
    printf '{"architecture":"amd64","os":"linux","config":{"Labels":{"tag":"%s"}},"rootfs":{"type":"layers","diff_ids":[]}}' "$tag" >"$tmp/config"
    printf 'layer of %s:%s' "$repo" "$tag" >"$tmp/layer"
    cd=$(_blob_upload "$repo" "$tmp/config")
    ld=$(_blob_upload "$repo" "$tmp/layer")
    cs=$(stat -c %s "$tmp/config")
    ls=$(stat -c %s "$tmp/layer")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
        "$cd" "$cs" "$ld" "$ls" >"$tmp/manifest"
    curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "@$tmp/manifest" "http://$REGISTRY/v2/$repo/manifests/$tag" -o /dev/null
    rm -rf "$tmp"
}
