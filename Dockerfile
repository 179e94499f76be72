# The Keyport operator image.
#
#   docker build -t REGISTRY/keyport-operator:TAG .
#
# The binary is static (no cgo) and runs as the distroless "nonroot" user
# (65532:65532) on an image with no shell or package manager.

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
    go build -trimpath -ldflags "-s -w" -o /out/keyport-operator ./operator

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/keyport-operator /keyport-operator
USER 65532:65532
ENTRYPOINT ["/keyport-operator"]
