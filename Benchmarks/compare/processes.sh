# Shared by the compare scripts (sourced): finding the processes a benchmark started, so they can
# be ended by pid.

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
