# The gitops-bot image: the CLI, git, and the pinned kubectl, helm and kustomize
# it drives. Used by the GitHub Action (action.yml), the GitLab CI template
# (actions/gitlab/) and the webhook server. Build it from the repository root:
#   docker build -t gitops-bot .
#
# Pins: the base image by digest; each tool by version and by the SHA-256 its
# project publishes for the download (tests/unit/test_packaging.py checks the
# versions against testenv/go.mod, so the image runs what the tests ran).
# To bump a tool: change its version here and in testenv/go.mod, and copy the
# new checksums from the project's release page (helm: the .sha256sum file
# beside each archive; kustomize: checksums.txt of the release; kubectl: the
# .sha256 file beside the binary).

ARG PYTHON_IMAGE=python:3.11-slim-trixie@sha256:db3ff2e1800a8581e2c48a27c3995339d47bdf046da21c7627accd3d51053a93

# --- the package, built as a wheel from this checkout, and its dependencies,
# installed into a virtualenv that the last stage copies whole. Every package
# comes from a lock with hashes (`make lock` writes both; docs/release.md):
# requirements.lock for the dependencies, requirements-build.lock for the
# build backend, used without build isolation so nothing unlocked is fetched;
# the wheel itself goes in with --no-deps.
FROM ${PYTHON_IMAGE} AS package
WORKDIR /src
COPY requirements.lock requirements-build.lock pyproject.toml README.md ./
COPY gitops_bot ./gitops_bot
RUN python -m venv /opt/venv \
    && python -m venv /opt/build \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock \
    && /opt/build/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements-build.lock \
    && /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps /wheels/*.whl \
    && /opt/venv/bin/pip check

# --- the tools, downloaded from their official release URLs and refused
# unless they match the published checksums. TARGETARCH is set by BuildKit
# (amd64 or arm64); the classic builder leaves it empty, which means amd64.
FROM ${PYTHON_IMAGE} AS tools
ARG TARGETARCH
ARG KUBECTL_VERSION=v1.36.3
ARG KUBECTL_SHA256_AMD64=ebbd080e7c2e275093b55915722043257eb24004363e20acb3c4d71919f88336
ARG KUBECTL_SHA256_ARM64=3d86f24401c41ae5a46ac50eef8865fe891d3647d324a0836f6c63757a126e62
ARG HELM_VERSION=v4.2.4
ARG HELM_SHA256_AMD64=c306b46f719b0a4da32d0f78ee21bf90ce8d602f15b22ab753f0674d1670a7f3
ARG HELM_SHA256_ARM64=564de2191b881e9f71b5606b25345821ea1682f06ab90499d3ab22b530176da1
ARG KUSTOMIZE_VERSION=v5.8.2
ARG KUSTOMIZE_SHA256_AMD64=06af0a202c2b831207d0173f9c9cdb1b30abceca0747cb3fbb72792d26055c95
ARG KUSTOMIZE_SHA256_ARM64=0991957191951cb7dddd142403b5bb98a1fcd6378ba0079dddc1e2c309080a7f
ADD https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH:-amd64}/kubectl /download/kubectl
ADD https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH:-amd64}.tar.gz /download/helm.tar.gz
ADD https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2F${KUSTOMIZE_VERSION}/kustomize_${KUSTOMIZE_VERSION}_linux_${TARGETARCH:-amd64}.tar.gz /download/kustomize.tar.gz
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /download
RUN case "${TARGETARCH:-amd64}" in \
      amd64) kubectl=${KUBECTL_SHA256_AMD64} helm=${HELM_SHA256_AMD64} kustomize=${KUSTOMIZE_SHA256_AMD64} ;; \
      arm64) kubectl=${KUBECTL_SHA256_ARM64} helm=${HELM_SHA256_ARM64} kustomize=${KUSTOMIZE_SHA256_ARM64} ;; \
      *) echo "no published checksums pinned for ${TARGETARCH}" >&2; exit 1 ;; \
    esac \
    && printf '%s  %s\n' "${kubectl}" kubectl "${helm}" helm.tar.gz "${kustomize}" kustomize.tar.gz \
       | sha256sum --check --strict \
    && mkdir -p /tools \
    && install -m 0755 kubectl /tools/kubectl \
    && tar -xzf helm.tar.gz --strip-components=1 "linux-${TARGETARCH:-amd64}/helm" \
    && install -m 0755 helm /tools/helm \
    && tar -xzf kustomize.tar.gz kustomize \
    && install -m 0755 kustomize /tools/kustomize

# --- what runs.
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="gitops-bot" \
      org.opencontainers.image.description="GitOps pull-request bot for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
# git: the bot reads the checkout with it. util-linux: prlimit and unshare,
# which bound a renderer's memory and cut its network (render/sandbox.py).
# Versions come from the Debian release the pinned base image is built on;
# pinning each package's exact version would break the build at Debian's
# next security update, when the archive drops the older version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git util-linux \
    && rm -rf /var/lib/apt/lists/*
COPY --from=tools /tools/ /usr/local/bin/
COPY --from=package /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Fails the build, rather than the first job, when a tool is missing or broken.
RUN gitops-bot --version \
    && kubectl version --client \
    && helm version --short \
    && kustomize version \
    && git --version \
    && prlimit --version \
    && unshare --version
# No USER: the image runs as its default user, root, because GitHub runs a
# Docker action that way and documents that it must: "Docker actions must be
# run by the default Docker user (root). Do not use the USER instruction in
# your Dockerfile, because you won't be able to access the GITHUB_WORKSPACE
# directory" (https://docs.github.com/en/actions/reference/workflows-and-actions/dockerfile-support#user).
# The workspace and the files behind $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY
# belong to the runner's user (mode 0644), whose UID differs between runners;
# only root may write them whatever it is. git refuses a checkout another user
# owns: `gitops-bot run` declares the workspace, and only it, safe.directory.
# No WORKDIR either (GitHub sets the workspace as the working directory).
# The puller and `serve` run as non-root: the pod's securityContext sets the
# UID (deploy/deployment.yaml: runAsNonRoot, runAsUser 10001) and HOME points
# to a writable volume; nothing here needs a passwd entry (docs/security.md).
ENTRYPOINT ["gitops-bot"]
CMD ["--help"]
