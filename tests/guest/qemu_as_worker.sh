#!/usr/bin/env bash
# qemu-riscv64 behind memmgr-worker's command line, for testing the
# differential harness itself (and as its stand-in until the worker runs
# guests):
#
#   qemu_as_worker.sh run [--env NAME=VALUE]... [--] prog.elf [args...]
#
# The guest gets exactly the --env variables (env -i). As the worker's
# contract says, a guest killed by a signal makes this exit 128 + signal
# with one line naming the reason on stderr (qemu itself prints nothing
# and kills itself with the guest's signal). QEMU_RISCV64 overrides the
# qemu binary.
set -uo pipefail

usage() {
  echo "usage: $0 run [--env NAME=VALUE]... [--] prog.elf [args...]" >&2
  exit 2
}

[ "${1:-}" = run ] || usage
shift
env_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --env) [ $# -ge 2 ] || usage; env_args+=("$2"); shift 2 ;;
    --env=*) env_args+=("${1#--env=}"); shift ;;
    --) shift; break ;;
    -*) echo "$0: unknown flag $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage

qemu="${QEMU_RISCV64:-qemu-riscv64}"
# Run qemu as a child (not exec) to translate a signal death into the
# contract's status and reason line; bash's own "Segmentation fault"
# report goes to the braces' stderr, /dev/null, while qemu writes to the
# real stderr (fd 3).
exec 3>&2
{ env -i "${env_args[@]}" "$qemu" "$@" 2>&3 3>&-; } 2>/dev/null
status=$?
exec 3>&-
if [ $status -gt 128 ]; then
  sig=$((status - 128))
  echo "guest killed by signal $sig (SIG$(kill -l $sig 2>/dev/null || echo '?'))" >&2
fi
exit $status
