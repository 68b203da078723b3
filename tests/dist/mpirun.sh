#!/usr/bin/env bash
# Runs a program as an MPI job of N processes on this machine alone: mpirun.sh N PROGRAM [ARGS...].
# More processes than cores are allowed (--oversubscribe); the processes talk through shared memory and the
# loopback interface only (no other network is touched); --allow-run-as-root only when run as root (containers).
set -euo pipefail
n=$1
shift
flags=(-np "$n" --oversubscribe)
[ "$(id -u)" -ne 0 ] || flags+=(--allow-run-as-root)
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
exec mpirun "${flags[@]}" "$@"
