#!/usr/bin/env bash
# Runs the job scripts of jobs/ under a real single-node Slurm (slurmctld + slurmd + munge, Debian's
# packages) on this machine, each with a small configuration, and checks that every job completes
# and writes its results. All of Slurm's state, logs and configuration live in WORK_DIR (SLURM_CONF
# points there); the daemons are stopped on exit. Needs root (slurmd), and a build of BUILD_DIR.
#
#   tests/slurm/run.sh [BUILD_DIR] [WORK_DIR]        (defaults: build/ci, build/slurm)
#
# Installs slurmctld, slurmd, slurm-client and munge with apt-get when they are missing and CI=true.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build/ci}")
work=$(realpath -m "${2:-build/slurm}")
fail() { echo "tests/slurm/run.sh: $*" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  [ "${CI:-}" = "true" ] || fail "needs slurmctld, slurmd, slurm-client and munge (apt-get install them, or run with CI=true)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
[ "$(id -u)" -eq 0 ] || fail "slurmd must run as root here"
for app in geoddp pretrain comm_bench; do [ -x "$build/bin/$app" ] || fail "$build/bin/$app is missing; build first"; done

rm -rf "$work"
mkdir -p "$work"/{state,spool,munge,results}
chmod 755 "$work/munge"  # munged: the socket folder must be searchable by all
chown munge:munge "$work/munge"

# munge: its own key, socket and pid file in the work folder.
key=$work/munge/munge.key
dd if=/dev/urandom bs=1 count=1024 of="$key" status=none
chown munge:munge "$key"
chmod 400 "$key"
socket=$work/munge/munge.socket
runuser -u munge -- munged --key-file="$key" --socket="$socket" --pid-file="$work/munge/munged.pid" \
  --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed"

export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=meridian
SlurmctldHost=localhost
SlurmctldPort=$((6817 + RANDOM % 500))
SlurmdPort=$((7400 + RANDOM % 500))
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmdParameters=config_overrides
JobCompType=jobcomp/none
# config_overrides: the node may claim more cores than it has, so 4 tasks fit on a 2-core machine.
NodeName=localhost CPUs=8 Boards=1 SocketsPerBoard=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF

cleanup() {
  for pid_file in "$work/slurmd.pid" "$work/slurmctld.pid" "$work/munge/munged.pid"; do
    [ -f "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null || true
  done
}
trap cleanup EXIT
slurmctld
slurmd -N localhost
for _ in $(seq 60); do
  sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)' && break
  sleep 1
done
sinfo -h -o '%T' | grep -qE '^(idle|mixed)' || { tail -20 "$work/slurmctld.log" "$work/slurmd.log" >&2; fail "the node did not come up"; }
echo "slurm: $(sinfo -h -o '%N %T %c CPUs')"

# One job, waited for; its output must have no error and the named files must exist.
submit() {
  local name=$1 files=$2
  shift 2
  local log=$work/$name.out
  echo "--- sbatch $* (log $log)"
  if ! sbatch --wait --output="$log" --error="$log" "$@"; then
    cat "$log" >&2
    fail "job $name did not complete"
  fi
  cat "$log"
  for f in $files; do
    [ -s "$work/results/$name/$f" ] || fail "job $name wrote no $f under $work/results/$name"
  done
}

# Each job script with a small configuration: 4 tasks on the one node, the run short.
common=(--nodes=1 --ntasks-per-node=4 --cpus-per-task=1 --time=00:10:00)
GEODDP_BIN=$build/bin/geoddp OUT=$work/results/geoddp BANDWIDTHS=100Mbit SCHEMES=ssgd,dreamddp EPOCHS=0.05 \
  submit geoddp "100Mbit/summary.json 100Mbit/stdout.txt" "${common[@]}" jobs/geoddp.sbatch
PRETRAIN_BIN=$build/bin/pretrain OUT=$work/results/pretrain LAYOUTS="2,1,2 1,2,2" STEPS=5 BATCH=8 MICRO=2 \
  submit pretrain "2x1x2/summary.json 1x2x2/summary.json" "${common[@]}" jobs/pretrain.sbatch
# The two layouts train the same model on the same data: the same final loss.
/usr/bin/env python3 - "$work/results/pretrain" <<'PY' || fail "the pretrain layouts disagree"
import json, sys
a, b = (json.load(open(f"{sys.argv[1]}/{d}/summary.json")) for d in ("2x1x2", "1x2x2"))
la, lb = a["final_train_loss"], b["final_train_loss"]
print(f"pretrain final train loss: 2x1x2 {la:.6f}, 1x2x2 {lb:.6f}")
sys.exit(0 if abs(la - lb) <= 1e-4 * abs(la) else 1)
PY
COMM_BENCH_BIN=$build/bin/comm_bench OUT=$work/results/comm_bench MAXBYTES=1M ITERS=3 ROUNDS=1 \
  submit comm_bench "records.json stdout.txt" "${common[@]}" jobs/comm_bench.sbatch
echo "tests/slurm/run.sh: every job script ran under Slurm"
