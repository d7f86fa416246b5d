#!/usr/bin/env bash
# metrics-guard: read a control-plane node's aggregation-layer material (read-only).
#
# Usage: read_material.sh [ROOT]   (ROOT: the node's filesystem root, default /)
#
# Prints a line-oriented document on stdout (format in docs/kube-access.md):
#   metrics-guard-node-material v1
#   layout=binary|kubeadm|unknown
#   flags-source=PATH
#   flag=--name=value                      (one per kube-apiserver flag)
#   proxy-client-cert-path=PATH
#   proxy-client-key-public-sha256=HEX     (SHA-256 of the DER SubjectPublicKeyInfo derived from the key)
#   begin=proxy-client-cert / end=...      (CERTIFICATE blocks only)
#   begin=requestheader-ca / end=...       (CERTIFICATE blocks only)
#   error=TEXT                             (one per problem)
#   metrics-guard-node-material end
#
# It never prints a private key: the key file is only read by `openssl pkey -pubout`, and certificate
# files are filtered to their CERTIFICATE blocks (a key concatenated into a certificate file is dropped).
set -euo pipefail
export LC_ALL=C

root="${1:-/}"
root="${root%/}"
if [[ -n "$root" && ! -d "$root" ]]; then
    printf 'metrics-guard-node-material v1\nlayout=unknown\nerror=root %s is not a directory\n' "$root"
    printf 'metrics-guard-node-material end\n'
    exit 0
fi

emit() { printf '%s\n' "$*"; }
errors=()
error() { errors+=("$*"); }

# host path -> path under the root
under_root() {
    local path=$1
    if [[ "$path" != /* ]]; then
        path="/$path"
    fi
    printf '%s%s' "$root" "$path"
}

# CERTIFICATE blocks of a file, between begin=/end= markers
print_certs() {
    local name=$1 file=$2
    emit "begin=$name"
    awk '{ sub(/\r$/, "") }
         /^-----BEGIN CERTIFICATE-----$/ { on = 1 }
         on { print }
         /^-----END CERTIFICATE-----$/ { on = 0 }' "$file"
    emit "end=$name"
}

strip_quotes() {
    local word=$1
    word="${word#\"}"
    word="${word%\"}"
    word="${word#\'}"
    word="${word%\'}"
    printf '%s' "$word"
}

declare -A flags=()
flag_lines=()

add_flag() {
    local name=$1 value=$2
    name="${name#--}"
    flags["$name"]="$value"
    flag_lines+=("--$name=$value")
}

# kube-apiserver words (after the binary) -> flags; "--name value" and "--name=value" both accepted
parse_words() {
    local -a words=("$@")
    local i=0 word next
    while (( i < ${#words[@]} )); do
        word=$(strip_quotes "${words[i]}")
        if [[ "$word" == \$* ]]; then
            error "flags-source expands ${word}: flags from an EnvironmentFile are not read"
        elif [[ "$word" == --*=* ]]; then
            add_flag "${word%%=*}" "${word#*=}"
        elif [[ "$word" == --* ]]; then
            next=""
            if (( i + 1 < ${#words[@]} )); then
                next=$(strip_quotes "${words[i + 1]}")
            fi
            if [[ -n "$next" && "$next" != -* && "$next" != \$* ]]; then
                add_flag "$word" "$next"
                i=$((i + 1))
            else
                add_flag "$word" "true"
            fi
        fi
        i=$((i + 1))
    done
}

manifest="$(under_root /etc/kubernetes/manifests/kube-apiserver.yaml)"
layout=unknown
source_path=""
if [[ -f "$manifest" ]]; then
    layout=kubeadm
    source_path=/etc/kubernetes/manifests/kube-apiserver.yaml
    words=()
    while IFS= read -r line; do
        words+=("$line")
    done < <(sed -n -e 's/\r$//' -e 's/^[[:space:]]*-[[:space:]]\{1,\}\(["'\'']\{0,1\}--.*\)$/\1/p' "$manifest" \
        | sed -e 's/[[:space:]]*$//')
    parse_words "${words[@]+"${words[@]}"}"
else
    for candidate in /etc/systemd/system/kube-apiserver.service /usr/lib/systemd/system/kube-apiserver.service \
        /lib/systemd/system/kube-apiserver.service; do
        if [[ -f "$(under_root "$candidate")" ]]; then
            layout=binary
            source_path=$candidate
            break
        fi
    done
    if [[ "$layout" == binary ]]; then
        # join "\"-continued lines, keep the last ExecStart=
        exec_line=$(sed -e 's/\r$//' -e ':a' -e '/\\$/N' -e 's/\\\n/ /' -e 'ta' "$(under_root "$source_path")" \
            | sed -n 's/^[[:space:]]*ExecStart=[-@+!:]*//p' | awk 'NF { line = $0 } END { print line }')
        read -r -a words <<< "$exec_line"
        if (( ${#words[@]} > 0 )); then
            parse_words "${words[@]:1}"
        else
            error "no ExecStart= in $source_path"
        fi
    fi
fi

emit "metrics-guard-node-material v1"
emit "layout=$layout"
if [[ -z "$source_path" ]]; then
    error "no kube-apiserver static-pod manifest or systemd unit found"
else
    emit "flags-source=$source_path"
fi
for line in "${flag_lines[@]+"${flag_lines[@]}"}"; do
    emit "flag=$line"
done

cert_flag="${flags[proxy-client-cert-file]:-}"
key_flag="${flags[proxy-client-key-file]:-}"
ca_flag="${flags[requestheader-client-ca-file]:-}"

if [[ -n "$cert_flag" ]]; then
    emit "proxy-client-cert-path=$cert_flag"
    cert_file="$(under_root "$cert_flag")"
    if [[ -r "$cert_file" ]]; then
        print_certs proxy-client-cert "$cert_file"
    else
        error "proxy client certificate $cert_flag is missing or unreadable"
    fi
fi

if [[ -n "$key_flag" ]]; then
    key_file="$(under_root "$key_flag")"
    if [[ -r "$key_file" ]]; then
        if der_sha=$(openssl pkey -in "$key_file" -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -r); then
            emit "proxy-client-key-public-sha256=${der_sha%% *}"
        else
            error "proxy client key $key_flag is not a readable unencrypted private key"
        fi
    else
        error "proxy client key $key_flag is missing or unreadable"
    fi
fi

if [[ -n "$ca_flag" ]]; then
    ca_file="$(under_root "$ca_flag")"
    if [[ -r "$ca_file" ]]; then
        print_certs requestheader-ca "$ca_file"
    else
        error "requestheader client CA $ca_flag is missing or unreadable"
    fi
fi

for line in "${errors[@]+"${errors[@]}"}"; do
    emit "error=$line"
done
emit "metrics-guard-node-material end"
