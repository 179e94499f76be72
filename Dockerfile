# The Keyport operator image, for people with Docker.
#
#   docker build -t REGISTRY/keyport-operator:TAG .
#
# `make images` builds the same image without Docker (shared/testsupport/imagebuild, as an
# OCI archive for `ctr images import`), along with the sandbox, workload and
# pause images: the same static binary (no cgo, -trimpath, -s -w) as
# /keyport-operator, run as the "nonroot" user (65532:65532), on an image
# with CA certificates and /etc/passwd but no shell or package manager;
# distroless static:nonroot below provides those here.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that source edits do not download them again.
COPY go.mod go.sum ./
RUN go mod download
# Only what ./operator is built from (see .dockerignore as well).
COPY api/ api/
COPY operator/ operator/
COPY shared/ shared/
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w -buildid=" -o /out/keyport-operator ./operator

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/keyport-operator /keyport-operator
USER 65532:65532
ENTRYPOINT ["/keyport-operator"]
