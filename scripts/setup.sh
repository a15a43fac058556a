#!/usr/bin/env bash
# Make a working pybgp checkout on a fresh Debian machine: Python, a virtualenv in
# .venv, pybgp installed in it (editable) with its test tools.  Safe to run again.
# Usage: scripts/setup.sh [--with-peers]
#   --with-peers  also install the tools the interop/golden/lab tests use (root only):
#                 bird2, gobgpd, frr, tcpdump, tshark (and iproute2) from Debian when
#                 missing, and ExaBGP into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
if [[ " $* " == *" --with-peers "* ]]; then
  # The real BGP peers and capture tools of the interop/golden tests and pybgp.lab:
  # "a command that proves the package is installed:Debian package".
  for probe in bird:bird2 birdc:bird2 gobgpd:gobgpd gobgp:gobgpd /usr/lib/frr/bgpd:frr \
    vtysh:frr tcpdump:tcpdump tshark:tshark editcap:tshark ip:iproute2 ss:iproute2 \
    unshare:util-linux; do
    tool=${probe%%:*} package=${probe##*:}
    if ! command -v "$tool" >/dev/null 2>&1 && [[ " ${need_apt[*]} " != *" $package "* ]]; then
      need_apt+=("$package")
    fi
  done
fi
if ((${#need_apt[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: please install ${need_apt[*]} (needs root), then run again" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Daemons must not start by themselves (bird2, frr): the lab starts them in namespaces.
  # policy-rc.d answering 101 tells the packages' maintainer scripts not to start them.
  made_policy=false
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=true
  fi
  apt-get update -qq
  apt_status=0
  apt-get install -y -qq "${need_apt[@]}" >/dev/null || apt_status=$?
  if $made_policy; then rm -f /usr/sbin/policy-rc.d; fi
  if ((apt_status)); then
    echo "setup: apt-get install ${need_apt[*]} failed" >&2
    exit "$apt_status"
  fi
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"setup: pybgp needs Python 3.11 or newer, this is {sys.version.split()[0]}")
PY

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
# pip's chatter goes to a log, shown only when an install fails.
pip_install() {
  local log=.venv/pip.log
  if ! .venv/bin/python -m pip install -q "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: pip install $* failed" >&2
    exit 1
  fi
}
stamp=.venv/.pybgp-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  pip_install --upgrade pip
  pip_install -e '.[test]'
  touch "$stamp"
fi
if [[ " $* " == *" --with-peers "* ]] && ! .venv/bin/python -c 'import exabgp' 2>/dev/null; then
  pip_install -e '.[test,bench]'
fi
