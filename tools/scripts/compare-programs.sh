# Sourced by compare-compile.sh and compare-llama.sh: compile_and_compare OLD NEW WORK CASE...
# compiles every "name:tspc arguments" case with both tspc binaries, compares the two programs byte
# for byte (cmp) and prints each case's user seconds and peak RSS with both. Returns 1 when a
# program differs or a compile fails.
compile_and_compare() {
  local old=$1 new=$2 work=$3
  shift 3
  local status=0 entry name which bin result old_s old_kb new_s new_kb
  local -a args
  printf '%-22s %18s %18s %s\n' case "old s / MB" "new s / MB" result
  for entry in "$@"; do
    name=${entry%%:*}
    read -r -a args <<<"${entry#*:}"
    for which in old new; do
      bin=$old
      [[ $which == new ]] && bin=$new
      /usr/bin/time -f "%U %M" -o "$work/$name.$which.time" "$bin" "${args[@]}" -o "$work/$name.$which.bin" \
        >"$work/$name.$which.log" 2>&1 || { echo "$name: $which tspc failed (see $work/$name.$which.log)"; status=1; }
    done
    # The figures are the last line: time puts "Command exited with non-zero status" before them.
    read -r old_s old_kb < <(tail -n 1 "$work/$name.old.time")
    read -r new_s new_kb < <(tail -n 1 "$work/$name.new.time")
    if cmp -s "$work/$name.old.bin" "$work/$name.new.bin"; then result=identical; else result=DIFFERENT; status=1; fi
    printf '%-22s %10s / %5d %10s / %5d %s\n' "$name" "$old_s" $((old_kb / 1024)) "$new_s" $((new_kb / 1024)) "$result"
  done
  return $status
}
