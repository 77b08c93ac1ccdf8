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

# --- the package, built as a wheel from this checkout, installed with its
# dependencies into a virtualenv that the last stage copies whole.
FROM ${PYTHON_IMAGE} AS package
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gitops_bot ./gitops_bot
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-cache-dir /wheels/*.whl

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
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1001 --user-group --no-log-init --create-home --home-dir /home/gitops gitops \
    && git config --system --add safe.directory '*'
# safe.directory: the checkout belongs to the CI runner's user, not to ours,
# and git refuses to read a repository another user owns unless told to. The
# container holds exactly one repository, the one the job checked out.
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
# UID 1001 is the runner user of GitHub-hosted runners: a Docker action runs
# as the image's user, and only the owner may write the files the runner
# hands it ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY). Not root (docs/security.md).
USER 1001:1001
WORKDIR /home/gitops
ENTRYPOINT ["gitops-bot"]
CMD ["--help"]
