# pairing-lib.sh — what the pairing scenarios share (sourced after lib.sh).
#
# Each writes its configuration: [Security] from its arguments, and a service
# 0xFF00 with plain (0xFF01, read), enc (0xFF02, encrypt-read, e1), cmd
# (0xFF04, write, Capture) and, unless just-works, auth (0xFF03,
# encrypt-authenticated-read, a1).

# e2e_pair_config FILE SECURITY-LINES
e2e_pair_config() {
    local file=$1 security=$2 auth=
    if [[ $security != *just-works* ]]; then
        auth=$'\n[Characteristic sec/auth]\nUUID=0xFF03\nFlags=encrypt-authenticated-read\nInitial=a1\n'
    fi
    cat >"$file" <<EOT
[Peripheral]
Name=e2e-pair

[Advertising]
Services=sec

[Security]
$security

[Service sec]
UUID=0xFF00

[Characteristic sec/plain]
UUID=0xFF01
Flags=read
Initial=01

[Characteristic sec/enc]
UUID=0xFF02
Flags=encrypt-read
Initial=e1

[Characteristic sec/cmd]
UUID=0xFF04
Flags=write
Capture=true
$auth
EOT
}

# e2e_central_paired — the central's bluetoothd says the peripheral is paired.
e2e_central_paired() {
    "$E2E_CENTRAL" info "$E2E_PERIPHERAL_ADDR" 2>/dev/null | grep -qE '^\s*Paired: (yes|true)'
}

# e2e_expect_log_has TEXT — the daemon's log holds TEXT.
e2e_expect_log_has() { grep -qF -- "$1" "$E2E_RESULTS/ble-peripheral.log"; }
