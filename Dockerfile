# umc-invite: Fluent Bit with the umc_invite output plugin.
#
#   docker build -t umc-invite --build-arg VERSION=1.0.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# The bases are build arguments, so the same file builds the release (the
# official images, the defaults) and CI's image (local stand-ins, see the
# docs/nubus.md, "The image"). The defaults are pinned by digest: the digests of
# golang:1.26-trixie (a Go 1.26.5 build) and fluent/fluent-bit:5.1.1 as
# public projects pin them; no registry is reachable where this file was
# written, so verify them once where one is (docker buildx imagetools
# inspect <image>) and refresh them deliberately.
#
# Go 1.26 on Debian 13 "trixie": Fluent Bit 5.1.1's official image is
# distroless Debian 13 (gcr.io/distroless/cc-debian13), so the c-shared
# plugin is linked against the very glibc (2.41) it runs with. Go older
# than 1.22 would crash inside Fluent Bit (morestack on g0).
ARG GO_IMAGE=golang:1.26-trixie@sha256:4ee9ffa999b4583ce281939cdff828763083610292f252279a0cee77473bd9a7
ARG FLUENT_BIT_IMAGE=fluent/fluent-bit:5.1.1@sha256:a941bdd5ca552b2c6597fc7b3bccf2e61d30873939bab5700963de0e94ac6169

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY plugin ./plugin
COPY umc ./umc
COPY cmd ./cmd
# Go's module and build caches live in cache mounts, kept between builds:
# a one-line change recompiles one package, not every dependency. Modules
# come from the Go image's own module cache first (CI's stand-in bakes the
# project's modules there and builds offline), then from GOPROXY.
RUN --mount=type=cache,id=umc-invite-go-mod,target=/root/.cache/go-mod \
    --mount=type=cache,id=umc-invite-go-build,target=/root/.cache/go-build \
    export GOMODCACHE=/root/.cache/go-mod GOCACHE=/root/.cache/go-build \
      GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw" \
      GOPROXY="file:///go/pkg/mod/cache/download,$(go env GOPROXY)" && \
    CGO_ENABLED=1 go build -tags nethttpomithttp2 -buildmode=c-shared -trimpath -ldflags="$(sh plugin/ldflags.sh)" \
      -o /out/root/fluent-bit/plugins/out_umc_invite.so ./plugin && \
    rm /out/root/fluent-bit/plugins/out_umc_invite.h && \
    CGO_ENABLED=0 go build -tags nethttpomithttp2 -trimpath -ldflags='-s -w' -o /out/root/fluent-bit/bin/umc-invite ./cmd/umc-invite
# What the runtime image, which has no shell, needs made here: the
# operator's command on PATH (kubectl exec <pod> -- umc-invite ...), and
# the queue and state directories owned by the non-root user, so that a
# fresh Docker named volume on /var/cache/listener starts as theirs (an
# empty volume takes the image's directory, owner and mode) and Fluent Bit
# can make its storage there without Kubernetes' fsGroup. The queue is
# group-writable and setgid, as fsGroup makes it, for a listener in the
# group 65532.
RUN mkdir -p /out/root/usr/local/bin /out/root/var/cache/listener/.fluent-bit/storage && \
    ln -s /fluent-bit/bin/umc-invite /out/root/usr/local/bin/umc-invite && \
    chown -R 65532:65532 /out/root/var/cache/listener && \
    chmod 2775 /out/root/var/cache/listener && \
    chmod 0750 /out/root/var/cache/listener/.fluent-bit /out/root/var/cache/listener/.fluent-bit/storage

# The version and revision, also as a file: it changes what the runtime
# stage copies, so that a builder whose layer cache ignores build
# arguments outside RUN (buildah 1.28) still writes fresh labels below.
ARG VERSION=dev
ARG REVISION=unknown
RUN printf 'umc-invite %s %s\n' "$VERSION" "$REVISION" >/out/root/fluent-bit/umc-invite.version

# Runtime: the official Fluent Bit image, pinned.
FROM ${FLUENT_BIT_IMAGE}
COPY --from=build /out/root/ /
COPY fluent-bit.conf /fluent-bit/etc/umc-invite/fluent-bit.conf
COPY build/fluent-bit.yaml /fluent-bit/etc/umc-invite/fluent-bit.yaml
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# distroless "nonroot"
USER 65532:65532
EXPOSE 2020 2021
ARG VERSION=dev
ARG REVISION=unknown
# The repository's URL; it names none itself: set it for a release.
ARG SOURCE=""
# The repository states no license (SPDX NOASSERTION): set it for a release.
ARG LICENSES=NOASSERTION
# Labels of its own: the base's (title "Fluent Bit", its source, URL,
# vendor) would describe Fluent Bit; those this image cannot say are empty.
LABEL org.opencontainers.image.title="umc-invite" \
      org.opencontainers.image.description="Fluent Bit with the umc_invite output plugin: each queue file <uid>.send becomes one UMC self-service invitation (passwordreset/send_token)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}" \
      org.opencontainers.image.url="" \
      org.opencontainers.image.documentation="" \
      org.opencontainers.image.vendor="" \
      org.opencontainers.image.authors=""
ENTRYPOINT ["/fluent-bit/bin/fluent-bit"]
# For the YAML config: -c /fluent-bit/etc/umc-invite/fluent-bit.yaml (it
# loads the plugin itself: drop the -e).
CMD ["-e", "/fluent-bit/plugins/out_umc_invite.so", "-c", "/fluent-bit/etc/umc-invite/fluent-bit.conf"]
