# imagebump's container image.
#
#   docker build -t imagebump .                 # with a Docker engine
#   scripts/image                               # without one: buildah, local
#                                               # Debian bases, tests the image
#
# Runs as UID/GID 10001 and works with a read-only root filesystem: it
# writes only to its data dir (/var/lib/imagebump, a volume) and /tmp (give
# it a tmpfs or an emptyDir there when the root is read-only).
#
# `serve --config /etc/imagebump/imagebump.toml`: the image's file holds only
# `listen = "0.0.0.0:8080"` and `data_dir = "/var/lib/imagebump"` (the rest
# are the embedded defaults), so the image serves without a config of its
# own. Mount yours over it (the Helm chart does; keep those two keys) or set
# single keys with IMAGEBUMP_* variables, which win over the file:
#   docker run -v ./imagebump.toml:/etc/imagebump/imagebump.toml:ro imagebump
#   docker run -e IMAGEBUMP_POLL_INTERVAL=1m imagebump

# Both bases are build arguments so that a build can use mirrored or local
# copies (scripts/image uses Debian bookworm bases it makes with debootstrap).
ARG BUILD_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
# Line tables (Cargo.toml's release profile) make the binary ~190 MB;
# STRIP_DEBUG=0 keeps them for file:line backtraces.
ARG STRIP_DEBUG=1
# The binary is copied out of target/ so that target/ may be a cache or a
# bind mount (scripts/image mounts the host's, already built).
RUN cargo build --release --locked \
 && install -D -m 0755 target/release/imagebump /out/imagebump \
 && if [ "$STRIP_DEBUG" = 1 ]; then strip --strip-debug /out/imagebump; fi \
 && /out/imagebump version

FROM ${RUNTIME_IMAGE}
# git pushes the bot's branches (openssh-client for ssh:// remotes);
# ca-certificates: TLS to forges and registries; amazon-ecr-credential-helper:
# docker-credential-ecr-login, the credential helper `credHelpers` names for
# ECR (AWS credentials from the pod: IRSA, Pod Identity or the node role).
# GAR's docker-credential-gcr and ACR's helpers are not packaged in Debian:
# add them in an image FROM this one.
RUN apt-get -qq update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates git openssh-client amazon-ecr-credential-helper >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 imagebump \
 && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init \
      --home-dir /var/lib/imagebump --shell /usr/sbin/nologin imagebump \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/imagebump \
 && install -d -m 0755 /etc/imagebump \
 && printf '%s\n' \
      "# The image's service config: every interface, data in the volume." \
      "# Mount your own over it, or override keys with IMAGEBUMP_* variables." \
      'listen = "0.0.0.0:8080"' \
      'data_dir = "/var/lib/imagebump"' >/etc/imagebump/imagebump.toml
COPY --from=build /out/imagebump /usr/local/bin/imagebump

ARG VERSION=0.1.0
ARG REVISION=
ARG SOURCE=https://github.com/imagebump/imagebump
LABEL org.opencontainers.image.title="imagebump" \
      org.opencontainers.image.description="GitOps image-bump bot: keeps container image tags in environment repositories up to date" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV HOME=/var/lib/imagebump
VOLUME ["/var/lib/imagebump"]
WORKDIR /var/lib/imagebump
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["imagebump"]
CMD ["serve", "--config", "/etc/imagebump/imagebump.toml"]
