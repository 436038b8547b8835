#!/bin/sh
# Run a command with a private lab instance: its own network and mount
# namespaces, so it can bring the lab up, inject faults and take the lab down
# without touching a lab that is up on this host or another run's lab.
#
#   scripts/lab-ns.sh molecule test --all
#   scripts/lab-ns.sh ansible-playbook playbooks/suite.yml
#   (make test: every pytest-xdist worker of the integration tests runs in one,
#    through tests/integration/support/worker_python.sh; molecule runs in one)
#
# Why the lab roles need no change although they use fixed names, ports and
# paths: inside, the command has
#   - its own network namespace: loopback (127.0.0.0/8) with the lab's ports
#     (MySQL 3317/3318, websocketd, etcd 127.0.0.11-13), its own nftables tables
#     and iptables chains for the faults, and the lab hosts' bridge, veths and
#     198.18.0.0/24 addresses (their namespaces are created inside it);
#   - /run as a fresh tmpfs: the default ledger /run/faultline, /run/netns and
#     the SSH ControlPersist sockets (ANSIBLE_SSH_CONTROL_PATH_DIR points there)
#     and, with FAULTLINE_PAYLOAD_CACHE=1 (make test), the test runs' bytecode
#     cache of Ansible's module_utils (tests/integration/support/payload_cache.py);
#   - /var/lib and /etc as overlays on the host's: reads see the host, writes
#     stay inside (the lab directory /var/lib/faultline-lab and /etc/netns start
#     empty, whatever the host has).
# All of it lives in memory and goes with the namespaces. Processes stay in the
# host's pid namespace: the lab roles still stop exactly what they started, by
# pid, and `ps` on the host shows them. When the command ends, the lab is taken
# down inside (a safety net for a command that died before its own cleanup;
# FAULTLINE_LAB_NS_DOWN=0 skips it), then the exit status is the command's.
# Needs root, util-linux unshare, overlay and tmpfs.
set -eu
[ "$#" -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "lab-ns.sh: needs root (namespaces, mounts)" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export FAULTLINE_LAB_NS_ROOT="$ROOT"
# shellcheck disable=SC2016  # the script is expanded by the inner sh, inside the namespaces
exec unshare --net --mount --propagation private -- /bin/sh -eu -c '
  ip link set lo up
  mount -t tmpfs -o mode=0755,size=8g faultline-lab-ns /mnt
  for d in var-lib etc; do mkdir -p /mnt/$d.up /mnt/$d.work; done
  mount -t overlay faultline-var-lib -o lowerdir=/var/lib,upperdir=/mnt/var-lib.up,workdir=/mnt/var-lib.work /var/lib
  mount -t overlay faultline-etc -o lowerdir=/etc,upperdir=/mnt/etc.up,workdir=/mnt/etc.work /etc
  rm -rf /var/lib/faultline-lab /etc/netns
  mount -t tmpfs -o mode=0755 faultline-run /run
  mkdir -p /run/lock /run/faultline-cp
  # make test: the AnsiballZ bytecode cache of the venv (tests/integration/support/payload_cache.py)
  if [ "${FAULTLINE_PAYLOAD_CACHE:-0}" = 1 ]; then mkdir -m 0700 /run/faultline-payload-cache; fi
  export ANSIBLE_SSH_CONTROL_PATH_DIR=/run/faultline-cp FAULTLINE_LAB_NS=1
  set +e
  "$@"
  rc=$?
  if [ "${FAULTLINE_LAB_NS_DOWN:-1}" != 0 ]; then
    if [ -e /var/lib/faultline-lab ]; then
      (cd "$FAULTLINE_LAB_NS_ROOT" && ansible-playbook playbooks/lab.yml -e lab_state=down \
          >/run/lab-ns-down.log 2>&1) \
        || { echo "lab-ns.sh: lab down inside the namespace FAILED:" >&2; tail -20 /run/lab-ns-down.log >&2; }
    fi
    # Whatever still runs in this network namespace, or in one made inside it
    # (a lab host: it sees the same /var/lib overlay), was started by the command
    # (a server of an interrupted test, say): stop it by pid, TERM then KILL.
    me=$(readlink /proc/self/ns/net)
    mydev=$(stat -c %d /var/lib)
    alive() {  # running, not a zombie (the state follows the command name in /proc/PID/stat)
      st=$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null) && [ "${st%% *}" != Z ]
    }
    left() {
      for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" != $$ ] || continue
        if [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$me" ] \
            || [ "$(stat -c %d "$p/root/var/lib" 2>/dev/null)" = "$mydev" ]; then
          echo "$pid"
        fi
      done
    }
    pids=$(left | tr "\n" " ")
    for pid in $pids; do
      alive "$pid" || continue  # gone already: the short-lived processes of the listing itself
      echo "lab-ns.sh: stopping pid $pid left in the namespace: $(tr "\0" " " <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)" >&2
      kill -TERM "$pid" 2>/dev/null || true
    done
    n=0
    while [ -n "$pids" ] && [ $n -lt 50 ]; do
      still=""
      for pid in $pids; do alive "$pid" && still="$still $pid"; done
      pids=$still; n=$((n + 1)); [ -n "$pids" ] && sleep 0.1
    done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  exit $rc' lab-ns "$@"
