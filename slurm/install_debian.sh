#!/usr/bin/env bash
# Install the Debian packages a local single-node SLURM cluster needs (Slurm 22.05 on Debian 12).
#
# Idempotent and quiet: does nothing when every package is already installed, otherwise runs
# `apt-get update` once and installs only what is missing. Needs root (or passwordless sudo).
#
# Usage: bash slurm/install_debian.sh
set -euo pipefail

readonly PACKAGES=(slurmctld slurmd slurm-client munge)
# Other engineers (or CI steps) may be running apt at the same time: wait for the dpkg lock
# instead of failing at once.
readonly APT_OPTS=(-qq -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)

die() {
    echo "install_debian.sh: error: $*" >&2
    exit 1
}

is_installed() {
    # dpkg-query prints "install ok installed" only for fully configured packages.
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        is_installed "$pkg" || echo "$pkg"
    done
}

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        die "installing packages needs root; rerun as root or with passwordless sudo: sudo bash $0"
    fi
}

main() {
    if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
        die "this script is for Debian/Ubuntu (dpkg and apt-get not found); install ${PACKAGES[*]} by hand"
    fi

    local missing
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi

    echo "install_debian.sh: installing ${missing[*]}" >&2
    local log
    log="$(mktemp -t nas_assets_apt.XXXXXX)"
    # shellcheck disable=SC2064  # expand $log now
    trap "rm -f '$log'" EXIT
    if ! as_root apt-get "${APT_OPTS[@]}" update >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "apt-get update failed (see above); check the network and /etc/apt/sources.list"
    fi
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y \
        --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "apt-get install ${missing[*]} failed (see above)"
    fi

    mapfile -t missing < <(missing_packages)
    [[ ${#missing[@]} -eq 0 ]] || die "still not installed after apt-get: ${missing[*]}"
    echo "install_debian.sh: installed; $(slurmctld -V 2>/dev/null || echo 'slurmctld version unknown')" >&2
}

main "$@"
