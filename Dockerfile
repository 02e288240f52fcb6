# One image for every ipcoord service: `ipcoord serve intake|credit|notifications`.
# Build stage: the project's own install step (deploy/install.sh, as `make install` runs it,
# without the dev tools), which also generates the protobuf code into the install.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml hatch_build.py README.md buf.yaml ./
COPY protos ./protos
COPY services ./services
COPY deploy/install.sh ./deploy/install.sh
RUN PYTHON=python bash deploy/install.sh /opt/ipcoord

# Final stage: the virtualenv only; no compiler, no pip cache, no sources but the install.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/ipcoord --create-home ipcoord
COPY --from=build /opt/ipcoord /opt/ipcoord
ENV PATH=/opt/ipcoord/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    IPCOORD_DATA_DIR=/var/lib/ipcoord/data
USER 10001
WORKDIR /var/lib/ipcoord
ENTRYPOINT ["ipcoord"]
CMD ["--help"]
