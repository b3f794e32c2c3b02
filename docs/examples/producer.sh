#!/bin/sh
# A producer in shell: push a temperature (a number: the daemon encodes it
# with the characteristic's Format, sint16 in 0.01 degrees) once a second.
# socat sends each line and prints each reply ("ok" or "error NAME: ...").
sock=${BLE_PERIPHERAL_SOCKET:-/run/ble-peripheral/control}
count=${COUNT:-10}
i=0
while [ "$i" -lt "$count" ]; do
  echo "notify env/temperature 2$((i % 10)).5"
  i=$((i + 1))
  sleep "${INTERVAL:-1}"
done | socat - "UNIX-CONNECT:$sock"
