#!/usr/bin/env bash
# Start a single-node Slurm cluster on localhost, with accounting (slurmdbd + MariaDB), so that
# snakemake-executor-plugin-slurm can submit jobs and poll them with sacct.
#
#   tests/slurm/up.sh DIR      # installs Debian's packages if missing (as root, via
#                              # tests/system-deps.sh), starts every daemon
#   source DIR/env.sh          # SLURM_CONF, and an srun wrapper first on PATH
#   tests/slurm/down.sh DIR    # stops every daemon this script started
#
# Everything lives in DIR (configs, sockets, spool, logs, database); nothing is written to /etc.
# Single node, no systemd, no cgroups: proctrack/linuxproc and task/none, munge with its own socket.
set -euo pipefail
S=$(mkdir -p "$1" && cd "$1" && pwd)
CPUS=${SLURM_CPUS:-$(nproc)}
MEM_MB=${SLURM_MEM_MB:-$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4 ))}

# Debian's packages when missing, through the one installer that every apt-get of the tests goes
# through (a lock, so that it cannot collide with the browser test's chromium install).
"$(dirname "$0")/../system-deps.sh" slurm
export PATH=$PATH:/usr/sbin
command -v slurmctld >/dev/null || { echo "up.sh: Slurm is not installed" >&2 && exit 1; }

mkdir -p "$S"/{etc,bin,spool/ctld,spool/d,log,run} "$S"/munge/{log,lib} "$S"/mysql/{data,run,log}
chmod 700 "$S"/munge/lib "$S"/munge/log
# munged wants every directory above its socket to be traversable by all (mode 755), which a
# private DIR (a pytest tmp dir is 700) is not: the socket gets its own directory in /tmp.
RUN=$(mktemp -d /tmp/curvlab-munge.XXXXXX)
chmod 755 "$RUN"
ln -sfn "$RUN" "$S/munge/run"
SOCKET=$RUN/munge.socket.2
export SLURM_CONF=$S/etc/slurm.conf

cat >"$SLURM_CONF" <<CONF
ClusterName=curvlab
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$S/spool/ctld
SlurmdSpoolDir=$S/spool/d
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStoragePass=$SOCKET
JobCompType=jobcomp/none
# Keep sbatch --comment (the executor plugin puts the rule name there) in the accounting DB.
AccountingStoreFlags=job_comment
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=300
DefMemPerCPU=1000
EnforcePartLimits=ALL
NodeName=localhost CPUs=$CPUS Sockets=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

DB_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
install -m 600 /dev/null "$S/etc/slurmdbd.conf"  # slurmdbd refuses a readable config
cat >"$S/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$SOCKET
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=$S/run/slurmdbd.pid
LogFile=$S/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
CONF

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "timed out waiting for $what; logs in $S/log, $S/munge/log, $S/mysql/log" >&2
  return 1
}

mungekey -c -f -k "$S/munge/munge.key"
munged --socket="$SOCKET" --key-file="$S/munge/munge.key" --log-file="$S/munge/log/munged.log" \
  --pid-file="$S/munge/run/munged.pid" --seed-file="$S/munge/lib/munged.seed"

mariadb-install-db --no-defaults --datadir="$S/mysql/data" --user=root \
  --auth-root-authentication-method=socket --skip-test-db >"$S/mysql/log/install.log" 2>&1
mariadbd --no-defaults --datadir="$S/mysql/data" --socket="$S/mysql/run/mysqld.sock" \
  --pid-file="$S/mysql/run/mysqld.pid" --port=3306 --bind-address=127.0.0.1 --user=root \
  --log-error="$S/mysql/log/error.log" --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
wait_for 60 MariaDB mariadb --no-defaults --socket="$S/mysql/run/mysqld.sock" -e "select 1"
mariadb --no-defaults --socket="$S/mysql/run/mysqld.sock" <<SQL
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL

slurmdbd  # reads slurmdbd.conf next to $SLURM_CONF
wait_for 60 slurmdbd sacctmgr -i list cluster
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
wait_for 60 "the node" bash -c "sinfo -h -o %T | grep -qE '^(idle|mixed|allocated)'"

# snakemake-executor-plugin-slurm-jobstep drops every SLURM_* variable (SLURM_CONF too) before
# its srun; this wrapper, first on PATH, restores the config location (srun otherwise reads /etc/slurm).
cat >"$S/bin/srun" <<WRAP
#!/usr/bin/env bash
export SLURM_CONF="\${SLURM_CONF:-$SLURM_CONF}"
exec /usr/bin/srun "\$@"
WRAP
chmod +x "$S/bin/srun"
cat >"$S/env.sh" <<ENV
export SLURM_CONF=$SLURM_CONF
export PATH=$S/bin:\$PATH:/usr/sbin
ENV
echo "slurm up: $(sinfo -h -o '%P %D %c %T') (source $S/env.sh)"
