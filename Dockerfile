# hookstack's own image: the CLI (the compose deployer), Locust master and workers, and the pinned
# MiniStack with hookstack's patches (compose profile "ministack").
#
# Python 3.12 on purpose: it is the Lambda runtime the stack declares (python3.12), so MiniStack,
# which runs functions on its own interpreter, imports the same manylinux artifact that LocalStack
# and AWS run. Pinned to a patch release; bump it deliberately.
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOOKSTACK_HOME=/var/lib/hookstack

RUN useradd --create-home --uid 10001 hookstack \
    && mkdir -p /var/lib/hookstack \
    && chown hookstack:hookstack /var/lib/hookstack

WORKDIR /app
# Sources only (see .dockerignore); installed as a regular package. The tree stays in /app for
# the paths the tools take (locust -f loadtests/locust/locustfile.py).
# `hookstack deploy` builds the Lambda artifact under the working directory: /app/.hookstack.
COPY . .
RUN pip install --no-compile . \
    && hookstack --help > /dev/null \
    && mkdir -p /app/.hookstack \
    && chown hookstack:hookstack /app/.hookstack

USER hookstack
CMD ["hookstack", "--help"]
