# umc-invite: Fluent Bit with the umc_invite output plugin.
#
# Build stage: Go 1.26, as go.mod, on Debian 13 "trixie". Fluent Bit 5.1.1's
# official image is distroless Debian 13 (gcr.io/distroless/cc-debian13),
# so the c-shared plugin is linked against the very glibc (2.41) it runs
# with. Go older than 1.22 would crash inside Fluent Bit (morestack on g0).
FROM golang:1.26-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY plugin ./plugin
COPY umc ./umc
COPY cmd ./cmd
RUN CGO_ENABLED=1 go build -buildmode=c-shared -trimpath -ldflags='-s -w' \
      -o /out/out_umc_invite.so ./plugin
# The operator's command, static: the runtime image has no shell and no
# libc beyond what Fluent Bit needs. kubectl exec … -- /fluent-bit/bin/umc-invite
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/umc-invite ./cmd/umc-invite

# Runtime: the official Fluent Bit image, pinned.
FROM fluent/fluent-bit:5.1.1
COPY --from=build /out/out_umc_invite.so /fluent-bit/plugins/out_umc_invite.so
COPY --from=build /out/umc-invite /fluent-bit/bin/umc-invite
COPY fluent-bit.conf /fluent-bit/etc/umc-invite/fluent-bit.conf
COPY build/fluent-bit.yaml /fluent-bit/etc/umc-invite/fluent-bit.yaml
# distroless "nonroot"
USER 65532:65532
EXPOSE 2020 2021
ENTRYPOINT ["/fluent-bit/bin/fluent-bit"]
# For the YAML config: -c /fluent-bit/etc/umc-invite/fluent-bit.yaml (it
# loads the plugin itself: drop the -e).
CMD ["-e", "/fluent-bit/plugins/out_umc_invite.so", "-c", "/fluent-bit/etc/umc-invite/fluent-bit.conf"]
