#!/usr/bin/env bash
# The README's test command (`make test`; extra arguments go to pytest).
#
# Where the machine allows it (root and apt-get), it first installs what the tests need: Debian's
# chromium for the UI browser tests and the SLURM packages for the single-node cluster that the
# SLURM tests start (and stop again at the end of the session, by PID, when they started it).
# Where it does not, everything else runs and the last lines say what was skipped and the one
# command that adds it. NAS_ASSETS_REQUIRE_ALL=1 (.ci/run) turns each of those skips into a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
APT=(-qq -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)

can_install() { [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; }

if ! command -v chromium >/dev/null && can_install; then
    echo "make test: installing Debian's chromium for the UI tests (once) ..."
    { apt-get update "${APT[@]}" && DEBIAN_FRONTEND=noninteractive apt-get install -y "${APT[@]}" chromium; } >/dev/null \
        || echo "make test: apt-get could not install chromium"
fi
if ! command -v sbatch >/dev/null && can_install; then
    echo "make test: installing the SLURM packages for the single-node test cluster (once) ..."
    bash slurm/install_debian.sh || echo "make test: slurm/install_debian.sh failed"
fi

missing=()
command -v chromium >/dev/null || missing+=("the UI browser tests (tests/ui): Debian's chromium is not installed")
if ! command -v sbatch >/dev/null; then
    missing+=("the SLURM tests (tests/slurm): the SLURM packages are not installed")
elif [[ $(id -u) != 0 ]] && ! bash slurm/cluster.sh status >/dev/null 2>&1; then
    missing+=("the SLURM tests (tests/slurm): the test cluster is not running and starting it needs root")
fi

"$PYTHON" -m pytest "$@"
rc=$?
if ((${#missing[@]})); then
    echo
    echo "make test: skipped, because this machine lacks what they need:"
    printf '  - %s\n' "${missing[@]}"
    echo "  add them: sudo make test   (as root with apt-get it installs chromium and SLURM, then runs everything)"
fi
exit "$rc"
