# Helpers the bench scripts share; source it after `cd` to the repository root.

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until URL answers 2xx, polling every 50 ms, at most TRIES times (default 1200: a minute).
wait_ready() {
  local url=$1 tries=${2:-1200}
  for _ in $(seq 1 "$tries"); do curl -sf -o /dev/null "$url" && return 0; sleep 0.05; done
  echo "not ready: $url" >&2
  return 1
}
# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
