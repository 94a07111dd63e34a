# partflow's image: the three static binaries on scratch, with a CA bundle and a passwd entry
# for UID 65532, and nothing else (no shell). `make image` cross-compiles the binaries for
# each architecture and builds this file once per architecture with buildah; the build
# context is .state/image/context (see deploy/image/build.sh), not the repository.
FROM scratch

ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
ARG BUILD_DATE=unknown

COPY etc/passwd etc/group /etc/
COPY etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chmod=0555 ${TARGETARCH}/enqueuer ${TARGETARCH}/worker ${TARGETARCH}/monitor /usr/local/bin/

ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
# The worker by default; the monitor and the enqueuer are /usr/local/bin/monitor and
# /usr/local/bin/enqueuer (set the container's command).
ENTRYPOINT ["/usr/local/bin/worker"]

LABEL org.opencontainers.image.title="partflow" \
      org.opencontainers.image.description="Moves files into S3 through asynq tasks in Redis: enqueuer, worker and monitor" \
      org.opencontainers.image.source="https://github.com/partflow/partflow" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${BUILD_DATE}"
