# Multi-stage build of a static, non-root carto-setup image.
# Running the wizard in a container needs the Docker socket mounted
# (-v /var/run/docker.sock:/var/run/docker.sock): anyone who controls that
# socket controls the host, so the container is root-equivalent. Prefer the
# plain binary on the VM; see README.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/carto-setup ./cmd/carto-setup

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/carto-setup /usr/local/bin/carto-setup
USER nonroot:nonroot
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/carto-setup"]
