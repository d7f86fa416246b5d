#!/usr/bin/env bash
# shellcheck disable=SC2329  # on_exit and the checks are called indirectly (trap, wait_for)
# metrics-guard node script: install a new aggregator proxy client certificate on ONE control-plane node.
#
# Shipped as the project's own SSM Command document (remediation/document.py renders it) and run by the
# local runner against devcluster node roots. Uses bash, coreutils, openssl, curl and systemctl only.
#
# Flow: fetch material -> check it (sha256 of the cert DER = --expected-sha256, key matches cert) ->
# find the target files (--proxy-client-cert-file / --proxy-client-key-file of kube-apiserver) ->
# unchanged? verify only -> back up -> write atomically keeping owner and mode -> apply the strategy ->
# wait for /readyz and this apiserver's aggregator_unavailable_apiservice{name=...} == 0 ->
# on any failure after the first write: restore the backup byte for byte, restart, exit non-zero.
#
# Exit codes: 0 installed or unchanged and healthy; 1 failed, previous files restored; 2 usage or material
# error, nothing touched; 3 failed and the restore or the restart after it failed too (needs a human).
# The last line of stdout is always "metrics-guard-result key=value ... reason=<one line>".
# Key material is never printed, never passed on a command line, and only written to files of mode 0600.
set -euo pipefail
umask 077

# ------------------------------------------------------------------------------------------- parameters
PARAMETER_NAME=""                       # SSM SecureString holding base64(cert PEM + key PEM)
MATERIAL_FILE="${MG_MATERIAL_FILE:-}"   # local runs: a file holding the same value (or plain PEM)
STRATEGY="reload-then-restart"          # reload-then-restart | restart
LAYOUT="binary"                         # binary (systemd unit) | kubeadm (static pod)
KUBECONFIG_PATH=""                      # credentials for /readyz and /metrics of this apiserver
APISERVER_URL="https://127.0.0.1:6443"  # this node's kube-apiserver
EXPECTED_SHA256=""                      # sha256 of the new certificate's DER
TIMEOUT=300                             # seconds for each wait (readiness after a change, after a restore)
RELOAD_WAIT=90                          # reload-then-restart: seconds to wait for the hot reload
APISERVICE="v1beta1.metrics.k8s.io"
UNIT_NAME="kube-apiserver"
ROOT="${MG_ROOT:-}"                     # local runs: prefix of every node-local path ("" on a real host)
RESTART_COMMAND="${MG_RESTART_COMMAND:-}"  # local runs: replaces the systemd / static-pod restart
CLIENT_CERT="" CLIENT_KEY="" CA_FILE=""    # instead of, or on top of, the kubeconfig
BACKUP_DIR=""                           # default $ROOT/var/lib/metrics-guard/backup/<UTC time>
POLL_INTERVAL="${MG_POLL_INTERVAL:-2}"
IMDS_URL="${MG_IMDS_URL:-http://169.254.169.254}"
SSM_ENDPOINT="${MG_SSM_ENDPOINT:-}"

usage() {
  cat <<'EOF'
usage: install_proxy_cert.sh --expected-sha256 HEX (--parameter-name NAME | --material-file PATH)
         [--strategy reload-then-restart|restart] [--layout binary|kubeadm]
         [--kubeconfig PATH | --client-cert P --client-key P --ca-file P] [--apiserver-url URL]
         [--timeout S] [--reload-wait S] [--apiservice NAME] [--unit NAME]
         [--root DIR] [--restart-command CMD] [--backup-dir DIR]
EOF
}

# ---------------------------------------------------------------------------------------------- output
NODE="$(uname -n)"
CHANGED=no
RESTARTED=no
NEW_SHA=""
log() { printf '%s metrics-guard: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
result() {  # status reason
  local reason="${2//$'\n'/ }"
  printf 'metrics-guard-result status=%s node=%s changed=%s restarted=%s cert_sha256=%s reason=%s\n' \
    "$1" "$NODE" "$CHANGED" "$RESTARTED" "${NEW_SHA:-none}" "$reason"
}
FINISHED=no
usage_error() {
  printf 'metrics-guard: %s\n' "$1" >&2
  result refused "$1"
  FINISHED=yes
  exit 2
}
succeed() {  # status reason
  result "$1" "$2"
  FINISHED=yes
  exit 0
}

# ------------------------------------------------------------------------------------------ arguments
need() { [[ $# -ge 2 && -n "$2" ]] || usage_error "option $1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --parameter-name) need "$@"; PARAMETER_NAME="$2"; shift 2 ;;
    --material-file) need "$@"; MATERIAL_FILE="$2"; shift 2 ;;
    --strategy) need "$@"; STRATEGY="$2"; shift 2 ;;
    --layout) need "$@"; LAYOUT="$2"; shift 2 ;;
    --kubeconfig) need "$@"; KUBECONFIG_PATH="$2"; shift 2 ;;
    --apiserver-url) need "$@"; APISERVER_URL="$2"; shift 2 ;;
    --expected-sha256) need "$@"; EXPECTED_SHA256="$2"; shift 2 ;;
    --timeout) need "$@"; TIMEOUT="$2"; shift 2 ;;
    --reload-wait) need "$@"; RELOAD_WAIT="$2"; shift 2 ;;
    --apiservice) need "$@"; APISERVICE="$2"; shift 2 ;;
    --unit) need "$@"; UNIT_NAME="$2"; shift 2 ;;
    --root) need "$@"; ROOT="$2"; shift 2 ;;
    --restart-command) need "$@"; RESTART_COMMAND="$2"; shift 2 ;;
    --client-cert) need "$@"; CLIENT_CERT="$2"; shift 2 ;;
    --client-key) need "$@"; CLIENT_KEY="$2"; shift 2 ;;
    --ca-file) need "$@"; CA_FILE="$2"; shift 2 ;;
    --backup-dir) need "$@"; BACKUP_DIR="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; usage_error "unknown argument: $1" ;;
  esac
done

case "$STRATEGY" in reload-then-restart|restart) ;; *) usage_error "unknown strategy: $STRATEGY" ;; esac
case "$LAYOUT" in binary|kubeadm) ;; *) usage_error "unknown layout: $LAYOUT" ;; esac
[[ "$EXPECTED_SHA256" =~ ^[0-9a-f]{64}$ ]] || usage_error "--expected-sha256 must be 64 lowercase hex digits"
[[ "$TIMEOUT" =~ ^[0-9]+$ && "$RELOAD_WAIT" =~ ^[0-9]+$ ]] || usage_error "timeouts must be whole seconds"
[[ -n "$PARAMETER_NAME" || -n "$MATERIAL_FILE" ]] || usage_error "give --parameter-name or --material-file"
[[ "$APISERVER_URL" =~ ^https:// ]] || usage_error "--apiserver-url must be https://"
ROOT="${ROOT%/}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/metrics-guard.XXXXXXXX")"
on_exit() {
  local rc=$?
  trap - EXIT
  if [[ "$FINISHED" != yes ]]; then
    # set -e stopped the script somewhere unexpected: the same path as any other failure.
    FINISHED=yes
    finish_failure "unexpected error (exit status $rc)"
    rc="$EXIT_CODE"
  fi
  rm -rf -- "$WORK"
  exit "$rc"
}
trap on_exit EXIT

sha256_of() { local s; s="$(sha256sum -- "$1")"; printf '%s' "${s%% *}"; }
cert_sha() { local s; s="$(openssl x509 -in "$1" -outform DER | sha256sum)"; printf '%s' "${s%% *}"; }
cert_pub() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }
key_pub() { openssl pkey -in "$1" -pubout 2>/dev/null; }
trim() { local v="$1"; v="${v#"${v%%[![:space:]]*}"}"; v="${v%"${v##*[![:space:]]}"}"; printf '%s' "$v"; }
unquote() { local v; v="$(trim "$1")"; v="${v#[\"\']}"; v="${v%[\"\']}"; printf '%s' "$v"; }
rebase() {  # a node-local path under $ROOT (paths already inside ROOT are kept)
  local p="$1"
  if [[ -z "$ROOT" || "$p" == "$ROOT"/* ]]; then printf '%s' "$p"; else printf '%s%s' "$ROOT" "$p"; fi
}

# ------------------------------------------------------------------------------------- fetch material
json_string() {  # file member -> value of the first "member":"..." (no escapes expected)
  local body re
  body="$(<"$1")"
  re="\"$2\"[[:space:]]*:[[:space:]]*\"([^\"]*)\""
  [[ "$body" =~ $re ]] || return 1
  printf '%s' "${BASH_REMATCH[1]}"
}

fetch_ssm_parameter() {  # -> $WORK/material (the parameter's value); called in a condition: no set -e
  if command -v aws >/dev/null 2>&1; then
    aws ssm get-parameter --name "$PARAMETER_NAME" --with-decryption \
      --query Parameter.Value --output text >"$WORK/material"
    return
  fi
  # No aws CLI on the host: IMDSv2 role credentials + curl's SigV4 signing. Credentials go to curl through
  # a config file (-K), never through its command line.
  local token region role akid secret session
  token="$(curl -sS --fail --max-time 5 -X PUT "$IMDS_URL/latest/api/token" \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')" || return 1
  printf 'header = "X-aws-ec2-metadata-token: %s"\n' "$token" >"$WORK/imds.cfg" || return 1
  region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
  if [[ -z "$region" ]]; then
    region="$(curl -sS --fail --max-time 5 -K "$WORK/imds.cfg" "$IMDS_URL/latest/meta-data/placement/region")" \
      || return 1
  fi
  role="$(curl -sS --fail --max-time 5 -K "$WORK/imds.cfg" "$IMDS_URL/latest/meta-data/iam/security-credentials/")" \
    || return 1
  role="${role%%$'\n'*}"
  curl -sS --fail --max-time 5 -K "$WORK/imds.cfg" -o "$WORK/creds.json" \
    "$IMDS_URL/latest/meta-data/iam/security-credentials/$role" || return 1
  akid="$(json_string "$WORK/creds.json" AccessKeyId)" || return 1
  secret="$(json_string "$WORK/creds.json" SecretAccessKey)" || return 1
  session="$(json_string "$WORK/creds.json" Token)" || return 1
  rm -f -- "$WORK/creds.json"
  {
    printf 'user = "%s:%s"\n' "$akid" "$secret"
    printf 'header = "x-amz-security-token: %s"\n' "$session"
    printf 'header = "X-Amz-Target: AmazonSSM.GetParameter"\n'
    printf 'header = "Content-Type: application/x-amz-json-1.1"\n'
  } >"$WORK/ssm.cfg" || return 1
  printf '{"Name":"%s","WithDecryption":true}' "$PARAMETER_NAME" >"$WORK/request.json" || return 1
  curl -sS --fail --max-time 15 -K "$WORK/ssm.cfg" --aws-sigv4 "aws:amz:$region:ssm" \
    --data-binary "@$WORK/request.json" -o "$WORK/response.json" \
    "${SSM_ENDPOINT:-https://ssm.$region.amazonaws.com}/" || return 1
  rm -f -- "$WORK/ssm.cfg"
  json_string "$WORK/response.json" Value >"$WORK/material" || return 1
  rm -f -- "$WORK/response.json"
}

fetch_material() {
  if [[ -n "$MATERIAL_FILE" ]]; then
    [[ -r "$MATERIAL_FILE" ]] || usage_error "material file is not readable"
    cat -- "$MATERIAL_FILE" >"$WORK/material"
  else
    [[ "$PARAMETER_NAME" =~ ^[A-Za-z0-9_.\/-]+$ ]] || usage_error "bad parameter name"
    fetch_ssm_parameter 2>"$WORK/fetch.err" || usage_error "cannot read SSM parameter $PARAMETER_NAME"
  fi
  local head
  head="$(head -c 10 -- "$WORK/material")"
  if [[ "$head" == -----BEGIN ]]; then
    mv -- "$WORK/material" "$WORK/bundle.pem"
  else
    base64 -d <"$WORK/material" >"$WORK/bundle.pem" 2>/dev/null || usage_error "material is not base64"
    rm -f -- "$WORK/material"
  fi
  openssl x509 -in "$WORK/bundle.pem" -out "$WORK/new.crt" 2>/dev/null \
    || usage_error "material holds no certificate"
  openssl pkey -in "$WORK/bundle.pem" -out "$WORK/new.key" 2>/dev/null \
    || usage_error "material holds no private key"
  rm -f -- "$WORK/bundle.pem"
  NEW_SHA="$(cert_sha "$WORK/new.crt")"
  [[ "$NEW_SHA" == "$EXPECTED_SHA256" ]] \
    || usage_error "fetched certificate has sha256 $NEW_SHA, expected $EXPECTED_SHA256"
  [[ "$(cert_pub "$WORK/new.crt")" == "$(key_pub "$WORK/new.key")" ]] \
    || usage_error "new key does not match new certificate"
}

# --------------------------------------------------------------------------------------- target paths
flag_value() {  # text flag -> value of the last --flag=value or --flag value in text
  local text="$1" flag="$2" word prev="" value="" words=()
  text="${text//\\$'\n'/ }"
  text="${text//$'\n'/ }"
  read -r -a words <<<"$text"
  for word in "${words[@]}"; do
    word="$(unquote "$word")"
    case "$word" in
      --"$flag"=*) value="${word#*=}" ;;
      *) if [[ "$prev" == "--$flag" ]]; then value="$word"; fi ;;
    esac
    prev="$word"
  done
  printf '%s' "$(unquote "$value")"
}

find_targets() {
  local text=""
  if [[ "$LAYOUT" == binary ]]; then
    local unit
    unit="$(rebase "/etc/systemd/system/$UNIT_NAME.service")"
    if [[ -z "$ROOT" ]] && command -v systemctl >/dev/null 2>&1 && text="$(systemctl cat "$UNIT_NAME" 2>/dev/null)"; then
      :
    elif [[ -r "$unit" ]]; then
      text="$(<"$unit")"
    else
      usage_error "cannot read the $UNIT_NAME unit (systemctl cat, $unit)"
    fi
    CERT_PATH="$(flag_value "$text" proxy-client-cert-file)"
    KEY_PATH="$(flag_value "$text" proxy-client-key-file)"
    [[ -n "$CERT_PATH" && -n "$KEY_PATH" ]] \
      || usage_error "$UNIT_NAME has no --proxy-client-cert-file/--proxy-client-key-file: aggregation not configured"
  else
    MANIFEST="$(rebase /etc/kubernetes/manifests/kube-apiserver.yaml)"
    CERT_PATH=/etc/kubernetes/pki/front-proxy-client.crt
    KEY_PATH=/etc/kubernetes/pki/front-proxy-client.key
    if [[ -r "$MANIFEST" ]]; then
      text="$(<"$MANIFEST")"
      text="${text//- --/ --}"
      local c k
      c="$(flag_value "$text" proxy-client-cert-file)"
      k="$(flag_value "$text" proxy-client-key-file)"
      CERT_PATH="${c:-$CERT_PATH}"
      KEY_PATH="${k:-$KEY_PATH}"
    fi
  fi
  CERT_PATH="$(rebase "$CERT_PATH")"
  KEY_PATH="$(rebase "$KEY_PATH")"
  [[ -f "$CERT_PATH" ]] || usage_error "proxy client certificate $CERT_PATH does not exist"
  [[ -f "$KEY_PATH" ]] || usage_error "proxy client key $KEY_PATH does not exist"
}

# ------------------------------------------------------------------------------- talking to apiserver
CURL_AUTH=()
setup_credentials() {
  local ca_data="" cert_data="" key_data="" token="" ca="" cert="" key="" line base
  if [[ -n "$KUBECONFIG_PATH" ]]; then
    [[ -r "$KUBECONFIG_PATH" ]] || usage_error "kubeconfig $KUBECONFIG_PATH is not readable"
    base="$(dirname -- "$KUBECONFIG_PATH")"
    # Minimal reading: the first value of each key. For a kubeconfig with several users or clusters, pass
    # --client-cert/--client-key/--ca-file instead.
    while IFS= read -r line || [[ -n "$line" ]]; do
      line="$(trim "$line")"
      line="${line#- }"
      case "$line" in
        certificate-authority-data:*) [[ -n "$ca_data" ]] || ca_data="$(unquote "${line#*:}")" ;;
        certificate-authority:*) [[ -n "$ca" ]] || ca="$(unquote "${line#*:}")" ;;
        client-certificate-data:*) [[ -n "$cert_data" ]] || cert_data="$(unquote "${line#*:}")" ;;
        client-certificate:*) [[ -n "$cert" ]] || cert="$(unquote "${line#*:}")" ;;
        client-key-data:*) [[ -n "$key_data" ]] || key_data="$(unquote "${line#*:}")" ;;
        client-key:*) [[ -n "$key" ]] || key="$(unquote "${line#*:}")" ;;
        token:*) [[ -n "$token" ]] || token="$(unquote "${line#*:}")" ;;
      esac
    done <"$KUBECONFIG_PATH"
    if [[ -n "$ca_data" ]]; then printf '%s' "$ca_data" | base64 -d >"$WORK/kc-ca.pem"; ca="$WORK/kc-ca.pem"; fi
    if [[ -n "$cert_data" ]]; then printf '%s' "$cert_data" | base64 -d >"$WORK/kc-cert.pem"; cert="$WORK/kc-cert.pem"; fi
    if [[ -n "$key_data" ]]; then printf '%s' "$key_data" | base64 -d >"$WORK/kc-key.pem"; key="$WORK/kc-key.pem"; fi
    [[ -z "$ca" || "$ca" == /* ]] || ca="$base/$ca"
    [[ -z "$cert" || "$cert" == /* ]] || cert="$base/$cert"
    [[ -z "$key" || "$key" == /* ]] || key="$base/$key"
  fi
  ca="${CA_FILE:-$ca}"
  cert="${CLIENT_CERT:-$cert}"
  key="${CLIENT_KEY:-$key}"
  [[ -n "$ca" ]] || usage_error "no CA to verify the apiserver: give --kubeconfig or --ca-file"
  CURL_AUTH=(--cacert "$ca")
  if [[ -n "$cert" && -n "$key" ]]; then
    CURL_AUTH+=(--cert "$cert" --key "$key")
  elif [[ -n "$token" ]]; then
    printf 'Authorization: Bearer %s\n' "$token" >"$WORK/auth.hdr"
    CURL_AUTH+=(-H "@$WORK/auth.hdr")
  fi
}

api_get() {  # path outfile
  curl -sS --fail --max-time 10 "${CURL_AUTH[@]}" -o "$2" "$APISERVER_URL$1" 2>>"$WORK/curl.err"
}
readyz_ok() { api_get /readyz "$WORK/readyz" >/dev/null 2>&1; }
# 0: this apiserver reports the APIService available; 1: unavailable, metric missing or /metrics unreadable.
aggregator_ok() {
  api_get /metrics "$WORK/metrics" >/dev/null 2>&1 || return 1
  local re line name="${APISERVICE//./\\.}"
  re="^aggregator_unavailable_apiservice[{]([^}]*,)?name=\"${name}\"(,[^}]*)?[}] (0|0\\.0+|0e\\+00)$"
  while IFS= read -r line; do
    [[ "$line" == aggregator_unavailable_apiservice\{* ]] || continue
    if [[ "$line" =~ $re ]]; then return 0; fi
  done <"$WORK/metrics"
  return 1
}
healthy() { readyz_ok && aggregator_ok; }
wait_for() {  # seconds check...
  local until=$((SECONDS + $1)); shift
  while true; do
    if "$@"; then return 0; fi
    if (( SECONDS >= until )); then return 1; fi
    sleep "$POLL_INTERVAL"
  done
}

restart_apiserver() {
  RESTARTED=yes
  if [[ -n "$RESTART_COMMAND" ]]; then
    log "restarting kube-apiserver with the restart hook"
    bash -c "$RESTART_COMMAND" >>"$WORK/restart.log" 2>&1
  elif [[ "$LAYOUT" == binary ]]; then
    log "systemctl restart $UNIT_NAME"
    systemctl restart "$UNIT_NAME" >>"$WORK/restart.log" 2>&1
  else
    # kubeadm: the kubelet stops the static pod when its manifest leaves the directory, starts it again
    # when it comes back (it rescans every 20 s).
    local parked
    parked="$(dirname -- "$(dirname -- "$MANIFEST")")/kube-apiserver.yaml.metrics-guard"
    log "moving the kube-apiserver static-pod manifest out and back"
    mv -- "$MANIFEST" "$parked" || return 1
    wait_for 60 not_ready || true
    mv -- "$parked" "$MANIFEST"
  fi
}
not_ready() { ! readyz_ok; }

# ------------------------------------------------------------------------------------------- install
write_atomic() {  # src dst: same directory temp file + mv, owner and mode of the file it replaces
  local src="$1" dst="$2" tmp
  tmp="$(mktemp "$(dirname -- "$dst")/.metrics-guard.XXXXXXXX")" || return 1
  if ! { cat -- "$src" >"$tmp" && chmod --reference="$dst" -- "$tmp"; }; then
    rm -f -- "$tmp"
    return 1
  fi
  # Keeping the owner needs root when it is not ours; as another user the file stays ours (local runs).
  chown --reference="$dst" -- "$tmp" 2>/dev/null || true
  mv -f -- "$tmp" "$dst" || { rm -f -- "$tmp"; return 1; }
}

ORIG_CERT_SHA="" ORIG_KEY_SHA=""
restore() {
  log "restoring the previous certificate and key from $BACKUP_DIR"
  write_atomic "$BACKUP_DIR/key" "$KEY_PATH" || return 1
  write_atomic "$BACKUP_DIR/cert" "$CERT_PATH" || return 1
  [[ "$(sha256_of "$CERT_PATH")" == "$ORIG_CERT_SHA" && "$(sha256_of "$KEY_PATH")" == "$ORIG_KEY_SHA" ]]
}

EXIT_CODE=1
finish_failure() {  # reason -> restores when something was changed, prints the result, sets EXIT_CODE
  local reason="$1" status=failed
  EXIT_CODE=1
  log "FAILED: $reason"
  if [[ "$CHANGED" == yes ]]; then
    status=restored
    if ! restore; then
      status=restore-failed EXIT_CODE=3
      reason="$reason; restoring the previous files FAILED"
    elif ! restart_apiserver; then
      status=restore-failed EXIT_CODE=3
      reason="$reason; previous files restored, restart after restore FAILED"
    elif ! wait_for "$TIMEOUT" readyz_ok; then
      status=restore-failed EXIT_CODE=3
      reason="$reason; previous files restored, kube-apiserver not ready after restart"
    else
      reason="$reason; previous files restored"
    fi
  fi
  printf 'metrics-guard: %s\n' "$reason" >&2
  result "$status" "$reason"
}
fail() {  # reason
  finish_failure "$1"
  FINISHED=yes
  exit "$EXIT_CODE"
}

main() {
  fetch_material
  find_targets
  setup_credentials
  log "node $NODE: certificate $CERT_PATH, key $KEY_PATH, strategy $STRATEGY, layout $LAYOUT"

  if [[ "$(cert_sha "$CERT_PATH" 2>/dev/null || true)" == "$NEW_SHA" \
        && "$(key_pub "$KEY_PATH")" == "$(cert_pub "$CERT_PATH")" ]]; then
    log "the new certificate is already installed: nothing to change"
    if wait_for "$TIMEOUT" healthy; then
      succeed unchanged "already installed; apiserver ready and $APISERVICE available"
    fi
    fail "already installed, but this apiserver does not report $APISERVICE available"
  fi

  BACKUP_DIR="${BACKUP_DIR:-$(rebase "/var/lib/metrics-guard/backup/$(date -u +%Y%m%dT%H%M%SZ)-$$")}"
  mkdir -p -- "$BACKUP_DIR"
  chmod 700 -- "$BACKUP_DIR"
  cp -p -- "$CERT_PATH" "$BACKUP_DIR/cert"
  cp -p -- "$KEY_PATH" "$BACKUP_DIR/key"
  ORIG_CERT_SHA="$(sha256_of "$CERT_PATH")"
  ORIG_KEY_SHA="$(sha256_of "$KEY_PATH")"
  [[ "$(sha256_of "$BACKUP_DIR/cert")" == "$ORIG_CERT_SHA" && "$(sha256_of "$BACKUP_DIR/key")" == "$ORIG_KEY_SHA" ]] \
    || fail "backup copies differ from the originals"
  log "backed up the previous files to $BACKUP_DIR"

  CHANGED=yes
  write_atomic "$WORK/new.key" "$KEY_PATH" || fail "cannot write $KEY_PATH"
  write_atomic "$WORK/new.crt" "$CERT_PATH" || fail "cannot write $CERT_PATH"
  [[ "$(cert_sha "$CERT_PATH")" == "$NEW_SHA" ]] || fail "written certificate differs from the new one"
  [[ "$(key_pub "$KEY_PATH")" == "$(cert_pub "$CERT_PATH")" ]] || fail "written key does not match the certificate"
  log "installed certificate sha256 $NEW_SHA"

  if [[ "$STRATEGY" == reload-then-restart ]]; then
    log "waiting up to ${RELOAD_WAIT}s for kube-apiserver to reload the proxy client certificate"
    if wait_for "$RELOAD_WAIT" healthy; then
      succeed installed "hot reload; apiserver ready and $APISERVICE available"
    fi
    log "$APISERVICE still unavailable from this apiserver after ${RELOAD_WAIT}s: restarting"
  fi
  restart_apiserver || fail "restarting kube-apiserver failed"
  wait_for "$TIMEOUT" readyz_ok || fail "kube-apiserver not ready within ${TIMEOUT}s after restart"
  wait_for "$TIMEOUT" aggregator_ok || fail "$APISERVICE not available from this apiserver within ${TIMEOUT}s"
  succeed installed "restarted; apiserver ready and $APISERVICE available"
}

main
