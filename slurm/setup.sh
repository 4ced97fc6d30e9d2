#!/usr/bin/env bash
# Install what the local Slurm cluster needs (Debian 12, as root). Safe to run again:
# when every package is present it only checks and exits.
set -euo pipefail

PACKAGES=(slurm-wlm slurmctld slurmd slurm-client slurmdbd munge mariadb-server mariadb-client procps)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "slurm/setup.sh: all packages present (${PACKAGES[*]})"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "slurm/setup.sh: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
fi

echo "slurm/setup.sh: installing ${missing[*]}"

# Keep package scripts from starting system-wide services; the cluster scripts start their own.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"
}
if ! apt_install; then
    apt-get update -q -o DPkg::Lock::Timeout=300
    apt_install
fi
echo "slurm/setup.sh: done"
