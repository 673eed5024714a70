# Shared by the compare scripts (sourced): installing what a benchmark needs from Debian, and
# finding the processes it started, so they can be ended by pid.

# Installs Debian packages $@ (refreshing the package lists once if the first attempt fails);
# exits the script with a clear error if apt-get cannot.
apt_install() {
  echo "installing $* (Debian)" >&2
  apt-get install -y "$@" >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 && apt-get install -y "$@" >/dev/null 2>&1; } \
    || { echo "cannot install $*: apt-get failed" >&2; exit 1; }
}

# Pids of processes whose command line names $1 (a directory), and all their descendants.
processes_naming() {
  local prefix=$1 pid cmd roots=() all=()
  for pid in /proc/[0-9]*; do
    pid=${pid#/proc/}
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
    [[ $cmd == *"$prefix"* ]] && roots+=("$pid")
  done
  all=("${roots[@]}")
  while [ ${#roots[@]} -gt 0 ]; do
    local next=()
    for pid in "${roots[@]}"; do
      for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do next+=("$child"); all+=("$child"); done
    done
    roots=("${next[@]}")
  done
  echo "${all[@]}"
}
