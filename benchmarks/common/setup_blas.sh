#!/usr/bin/env bash
# Install OpenBLAS, the CPU BLAS of the matrix multiplication benchmarks (Debian: libopenblas-dev).
# Run as root by `make setup`; safe to run again: when the package is present it only checks.
set -euo pipefail

PACKAGE=libopenblas-dev
if [[ "$(dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null || true)" == "install ok installed" ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "setup_blas.sh: $PACKAGE is missing; run as root (or apt-get install $PACKAGE) to build the matrix multiplications" >&2
    exit 1
fi
echo "setup_blas.sh: installing $PACKAGE"
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$PACKAGE"; }
if ! apt_install; then
    apt-get update -q -o DPkg::Lock::Timeout=300
    apt_install
fi
