#!/usr/bin/env bash
# Install the Debian packages two tests need, once, serialized with every other caller:
#
#   tests/system-deps.sh [browser] [slurm]    # no argument: both
#
#   browser  chromium chromium-driver                      (tests/test_report_browser.py)
#   slurm    slurm-wlm slurmdbd munge mariadb-server       (tests/test_slurm.py, tests/slurm/up.sh)
#
# `make system-deps` runs it before pytest starts; the two tests and tests/slurm/up.sh call it
# again for a missing group when run on their own. Those callers run in different pytest-xdist
# groups at the same time, and two apt-gets at once fail on dpkg's lock (apt-get does not wait for
# it by default, and never waits for the package lists' lock): every apt-get here runs under one
# machine-wide flock, and also waits up to 10 minutes for dpkg's lock held by anyone else.
#
# Exit 0 with one line saying why nothing was done when the commands are already there, when this
# is not root with apt-get, or when CURVLAB_SYSTEM_DEPS=0 (the tests then skip). Exit 1 when an
# install was tried and failed (no network, no mirror): set CURVLAB_SYSTEM_DEPS=0 to go on without.
set -euo pipefail

groups=("$@")
((${#groups[@]})) || groups=(browser slurm)
for group in "${groups[@]}"; do
  [[ $group =~ ^(browser|slurm)$ ]] || { echo "system-deps: unknown group '$group'" >&2 && exit 2; }
done
check() {  # missing: what the tests look for and is not there; packages: the groups' to install
  missing=() packages=()
  local group thing before
  for group in "${groups[@]}"; do
    before=${#missing[@]}
    case $group in
      browser)  # the two paths tests/test_report_browser.py uses
        for thing in /usr/bin/chromium /usr/bin/chromedriver; do
          [ -x "$thing" ] || missing+=("$thing")
        done
        ((${#missing[@]} == before)) || packages+=(chromium chromium-driver)
        ;;
      slurm)  # the commands tests/slurm/up.sh runs
        for thing in slurmctld slurmd slurmdbd munged mariadbd sacct; do
          PATH=$PATH:/usr/sbin command -v "$thing" >/dev/null 2>&1 || missing+=("$thing")
        done
        ((${#missing[@]} == before)) || packages+=(slurm-wlm slurmdbd munge mariadb-server)
        ;;
    esac
  done
}
check
if ((${#missing[@]} == 0)); then
  echo "system-deps: the packages of ${groups[*]} are already installed"
  exit 0
fi
if [ "${CURVLAB_SYSTEM_DEPS:-1}" = 0 ]; then
  echo "system-deps: not installing ${packages[*]} (CURVLAB_SYSTEM_DEPS=0); their tests skip"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not installing ${packages[*]} (needs root and apt-get); their tests skip"
  exit 0
fi

# One lock for the whole machine (not per checkout): two clones' test runs collide the same way.
LOCK=${CURVLAB_APT_LOCK:-/var/lock/curvlab-system-deps.lock}
[ -d "$(dirname "$LOCK")" ] || LOCK=/tmp/curvlab-system-deps.lock
exec 9>"$LOCK"
if ! flock -n 9; then
  echo "system-deps: waiting for another install ($LOCK)"
  flock -w 1800 9 || { echo "system-deps: gave up waiting 30 min for $LOCK" >&2 && exit 1; }
fi
check  # whoever held the lock may have installed them meanwhile
if ((${#missing[@]} == 0)); then
  echo "system-deps: the packages of ${groups[*]} were installed meanwhile by another caller"
  exit 0
fi

todo=("${packages[@]}")  # check below empties packages
started=$SECONDS
log=$(mktemp /tmp/curvlab-system-deps.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
# 9>&-: apt-get, dpkg and any daemon a postinst starts must not inherit the flock, or it would
# outlive this script; were this script killed mid-install, DPkg::Lock::Timeout still keeps the
# next caller off dpkg until apt-get is done.
apt=(apt-get -q -y -o DPkg::Lock::Timeout=600)
apt_update() { "${apt[@]}" update >>"$log" 2>&1 9>&-; }
apt_install() { "${apt[@]}" install --no-install-recommends "${todo[@]}" >>"$log" 2>&1 9>&-; }
# `apt-get update` first only when a package has no candidate (empty lists, as in a fresh
# container); lists that are merely stale show up as a failed download: update, then try again.
no_candidate() {
  local policy
  policy=$(apt-cache policy "${todo[@]}" 2>/dev/null 9>&-)
  [ "$(grep -c 'Candidate: [^(]' <<<"$policy")" -lt ${#todo[@]} ]
}
echo "system-deps: installing ${todo[*]} (missing: ${missing[*]}; apt log: $log)"
if no_candidate; then
  apt_update || true
fi
if ! apt_install; then
  apt_update || true
  apt_install || true
fi
check
if ((${#missing[@]})); then
  echo "system-deps: installing ${todo[*]} failed (missing: ${missing[*]}); $log ends:" >&2
  tail -n 15 "$log" >&2
  echo "system-deps: CURVLAB_SYSTEM_DEPS=0 goes on without them (their tests then skip)" >&2
  exit 1
fi
echo "system-deps: installed ${todo[*]} in $((SECONDS - started)) s"
rm -f "$log"
