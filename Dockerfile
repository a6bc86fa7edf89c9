# One image for every node of the docker-compose.yml Ray cluster: Python 3.11, Ray, and mpcsim
# installed from this repository. Build context: the repository root (see .dockerignore).
#
#   docker compose build            # or: docker build -t mpcsim-ray .
#
# No token or other secret is baked in: docker-compose.yml hands each container the Ray auth
# token as a secret file at run time.
FROM python:3.11-slim

# Ray must be the same version in every container and in every driver that joins the cluster.
ARG RAY_VERSION=2.60.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/mpcsim
COPY . .
# ray[default]: the dashboard and its agent; it also brings grpcio, so the head serves Ray
# Client (ray://) on port 10001.
RUN pip install "ray[default]==${RAY_VERSION}" . \
    && useradd --create-home --uid 1000 ray

USER ray
WORKDIR /home/ray
CMD ["ray", "--help"]
