#!/usr/bin/env bash
# Stand-in CARTO Self-Hosted release: builds .env from customer.env, VERSION
# and env.tpl, and copies key.json into certs/. Written for carto-setup's
# tests and --demo mode from the description of CARTO's install.sh; it is not
# CARTO's file.

set -o nounset
set -o errexit
set -o errtrace
set -o pipefail

trap 'rc=$?; echo "Aborting due to errexit on line ${LINENO}. Exit code: ${rc}" >&2' ERR

info() { echo "[INFO]: $*"; }
warn() { echo "[WARN]: $*"; }
error() { echo "[ERROR]: $*"; }

usage() {
  echo "Usage: $0 [--ignore-checks] [--help]"
  echo "  --ignore-checks  skip the checks before and after generating .env"
}

# at_least VERSION MINIMUM succeeds when VERSION sorts at or after MINIMUM.
at_least() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | sed -n 1p)" = "$2" ]
}

checks() {
  if ! command -v docker >/dev/null 2>&1; then
    error "docker is not installed"
    exit 1
  fi
  local docker_version
  docker_version="$(docker --version | awk '{print $3}' | tr -d ',')"
  if ! at_least "${docker_version}" "20.10"; then
    error "docker ${docker_version} is older than 20.10"
    exit 1
  fi

  if ! command -v docker-compose >/dev/null 2>&1; then
    error "docker-compose is not installed"
    exit 1
  fi
  local compose_version
  compose_version="$(docker-compose version 2>/dev/null | sed -nE '1s/.*version v?([0-9][0-9.]*).*/\1/p')"
  if ! at_least "${compose_version}" "1.29"; then
    error "docker-compose ${compose_version} is older than 1.29"
    exit 1
  fi

  local f
  for f in VERSION customer.env key.json MIN_VERSION; do
    if [ ! -f "${f}" ]; then
      error "file ${f} is missing"
      exit 1
    fi
  done
}

generate_env() {
  sed -i 's/^POSTGRES_PASSWORD/POSTGRES_ADMIN_PASSWORD/' customer.env
  {
    cat customer.env
    printf '\n'
    printf '# %s %s %s\n' "$(printf '<%.0s' $(seq 31))" "CARTO VERSION" "$(printf '<%.0s' $(seq 32))"
    printf '\n'
    printf 'CARTO_SELFHOSTED_VERSION=%s\n' "$(cat VERSION)"
    printf '\n'
    printf '# %s\n' "$(printf '>%.0s' $(seq 78))"
    printf '\n'
    cat env.tpl
  } > .env
  mkdir -p certs
  cp key.json certs/key.json
  info "File .env successfully created"
  info "Script finished, run docker-compose up -d"
}

# dotenv_fail MESSAGE reports a .env that Docker Compose would refuse.
dotenv_fail() {
  error "Docker Compose could not read .env: $*"
  exit 1
}

# dotenv_read FILE fills the associative array DOTENV (declared by the
# caller) with the values Docker Compose v2 reads from FILE: KEY=VALUE or
# KEY: VALUE statements with an optional "export " prefix, # comments,
# unquoted values cut at " #" and trimmed, single-quoted values literal but
# for \', double-quoted values with backslash escapes, quoted values that
# span lines, ${VAR} interpolation of earlier keys in unquoted and
# double-quoted values, and the last assignment of a key winning. Reading
# values this way, rather than exporting the lines to the shell, keeps
# spaces, quotes, #, $() and backslashes exactly as Compose sees them.
dotenv_read() {
  local LC_ALL=C
  local -a lines=()
  local n i start rest key value q k c esc chars
  mapfile -t lines < "$1"
  n=${#lines[@]}
  i=0
  while [ "${i}" -lt "${n}" ]; do
    rest=${lines[i]}
    i=$((i + 1))
    start=${i}
    while :; do
      rest=${rest#"${rest%%[!$' \t\r\v\f']*}"}
      if [ -z "${rest}" ] || [ "${rest:0:1}" = "#" ]; then
        break
      fi
      if [[ ${rest} =~ ^export[[:space:]]+(.*)$ ]]; then
        rest=${BASH_REMATCH[1]}
      fi
      if [[ ${rest} =~ ^[][A-Za-z0-9_.-]+[[:space:]]*$ ]]; then
        break # a bare KEY: Compose takes it from the environment
      fi
      if ! [[ ${rest} =~ ^([][A-Za-z0-9_.-]+)[[:space:]]*[=:](.*)$ ]]; then
        dotenv_fail "line ${start}: not a KEY=VALUE statement"
      fi
      key=${BASH_REMATCH[1]}
      rest=${BASH_REMATCH[2]}
      rest=${rest#"${rest%%[!$' \t\r\v\f']*}"}
      q=${rest:0:1}
      if [ "${q}" = "'" ] || [ "${q}" = '"' ]; then
        # Scan for the closing quote; a backslash escapes the quote only,
        # any other backslash is kept.
        chars=""
        esc=0
        k=1
        while :; do
          if [ "${k}" -ge "${#rest}" ]; then
            if [ "${i}" -ge "${n}" ]; then
              dotenv_fail "line ${start}: unterminated quoted value"
            fi
            rest+=$'\n'${lines[i]}
            i=$((i + 1))
            continue
          fi
          c=${rest:k:1}
          k=$((k + 1))
          if [ "${c}" != "${q}" ]; then
            if [ "${esc}" = 0 ] && [ "${c}" = '\' ]; then
              esc=1
              continue
            fi
            if [ "${esc}" = 1 ]; then
              esc=0
              chars+='\'
            fi
            chars+=${c}
            continue
          fi
          if [ "${esc}" = 1 ]; then
            esc=0
            chars+=${c}
            continue
          fi
          break
        done
        rest=${rest:k}
        value=${chars}
        if [ "${q}" = '"' ]; then
          dotenv_escapes "${value}"
          dotenv_expand "${REPLY}" "${start}"
          value=${REPLY}
        fi
      else
        value=${rest%%" #"*}
        value=${value%"${value##*[!$' \t\r\v\f\n']}"}
        dotenv_expand "${value}" "${start}"
        value=${REPLY}
        rest=""
      fi
      DOTENV[${key}]=${value}
    done
  done
}

# dotenv_escapes VALUE sets REPLY to a double-quoted value with Compose's
# escapes decoded: \a \b \f \n \r \t \v, \" and \\, \$ (kept as $$ for the
# interpolation to turn into $) and \0 with three octal digits (a character,
# UTF-8 encoded); any other backslash stays.
dotenv_escapes() {
  local LC_ALL=C
  local v=$1 out="" d code
  while [[ ${v} == *'\'* ]]; do
    out+=${v%%'\'*}
    v=${v#*'\'}
    case ${v:0:1} in
      a | b | f | n | r | t | v)
        printf -v d "\\${v:0:1}"
        out+=${d}
        v=${v:1}
        ;;
      '"' | '\')
        out+=${v:0:1}
        v=${v:1}
        ;;
      '$')
        out+='$$'
        v=${v:1}
        ;;
      0)
        [[ ${v:1} =~ ^([0-9]{0,3}) ]]
        d=${BASH_REMATCH[1]}
        v=${v:$((1 + ${#d}))}
        if [[ ${d} =~ ^[0-7]{3}$ ]] && [ $((8#${d})) -le 255 ] && [ $((8#${d})) -gt 0 ]; then
          code=$((8#${d}))
          if [ "${code}" -lt 128 ]; then
            printf -v d "\\$(printf '%03o' "${code}")"
          else
            printf -v d "\\$(printf '%03o' $((0xC0 | code >> 6)))\\$(printf '%03o' $((0x80 | (code & 0x3F))))"
          fi
          out+=${d}
        else
          out+='\'${d} # Compose keeps the backslash and the digits after the 0
        fi
        ;;
      *) out+='\' ;; # not an escape: the backslash stays
    esac
  done
  REPLY=${out}${v}
}

# dotenv_expand VALUE LINE sets REPLY to VALUE with Compose's interpolation
# of earlier keys: $$, $NAME, ${NAME} and the :- - :+ + :? ? forms, whose
# operands are interpolated in turn; a $ that starts no variable stays.
dotenv_expand() {
  local LC_ALL=C
  local v=$1 line=$2 out="" lit rest name sub op arg colon isset open end j
  while [ -n "${v}" ]; do
    lit=${v%%'$'*}
    out+=${lit}
    v=${v:${#lit}}
    if [ -z "${v}" ]; then
      break
    fi
    rest=${v:1}
    if [ "${rest:0:1}" = '$' ]; then
      out+='$'
      v=${rest:1}
    elif [[ ${rest} =~ ^([A-Za-z_][A-Za-z0-9_]*) ]]; then
      name=${BASH_REMATCH[1]}
      out+=${DOTENV[${name}]-}
      v=${rest:${#name}}
    elif [ "${rest:0:1}" = '{' ]; then
      # The closing brace, counted as Compose counts it: every { opens
      # and skips the character after it.
      open=0
      end=-1
      j=0
      while [ "${j}" -lt "${#rest}" ]; do
        case ${rest:j:1} in
          '}')
            open=$((open - 1))
            if [ "${open}" = 0 ]; then
              end=${j}
              break
            fi
            ;;
          '{')
            open=$((open + 1))
            j=$((j + 1))
            ;;
        esac
        j=$((j + 1))
      done
      if [ "${end}" -lt 0 ]; then
        dotenv_fail "line ${line}: invalid interpolation format: \${ without }"
      fi
      sub=${rest:1:end-1}
      v=${rest:end+1}
      if ! [[ ${sub} =~ ^([A-Za-z_][A-Za-z0-9_]*)(.*)$ ]]; then
        dotenv_fail "line ${line}: invalid interpolation format in \${...}"
      fi
      name=${BASH_REMATCH[1]}
      op=${BASH_REMATCH[2]}
      if [ -z "${op}" ]; then
        out+=${DOTENV[${name}]-}
        continue
      fi
      colon=0
      if [ "${op:0:1}" = ":" ]; then
        colon=1
        op=${op:1}
      fi
      if [ -z "${op}" ]; then
        dotenv_fail "line ${line}: invalid interpolation format in \${...}"
      fi
      dotenv_expand "${op:1}" "${line}"
      arg=${REPLY}
      isset=0
      if [ -n "${DOTENV[${name}]+set}" ] && { [ "${colon}" = 0 ] || [ -n "${DOTENV[${name}]}" ]; }; then
        isset=1
      fi
      case ${op:0:1} in
        -) if [ "${isset}" = 1 ]; then out+=${DOTENV[${name}]}; else out+=${arg}; fi ;;
        +) if [ "${isset}" = 1 ]; then out+=${arg}; else out+=${DOTENV[${name}]-}; fi ;;
        '?')
          if [ "${isset}" = 0 ]; then
            dotenv_fail "line ${line}: required variable ${name} is missing a value"
          fi
          out+=${DOTENV[${name}]}
          ;;
        *) dotenv_fail "line ${line}: invalid interpolation format in \${...}" ;;
      esac
    else
      out+='$'
      v=${rest}
    fi
  done
  REPLY=${out}
}

post_checks() {
  local package_version min_version
  package_version="$(grep CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION .env | cut -d '=' -f 2- | tr -d '"')"
  min_version="$(tr -d '"\n' < MIN_VERSION)"
  local -A DOTENV=()
  dotenv_read .env
  (
    # nounset: an unset variable aborts the script here.
    if [ "${DOTENV[LOCAL_POSTGRES_SCALE]}" = "1" ]; then
      warn "Using embedded databases is not for PRODUCTION use"
    fi
    if [ -z "${DOTENV[POSTGRES_ADMIN_PASSWORD]}" ]; then
      error "There is no Postgres Admin password defined"
    fi
  )
  if ! at_least "${package_version}" "${min_version}"; then
    error "Your customer package ${package_version} is older than ${min_version}, the minimum this release accepts: ask CARTO support for a newer one"
  fi
}

main() {
  local ignore_checks=0
  case "${1:-}" in
    "") ;;
    --ignore-checks) ignore_checks=1 ;;
    --help)
      usage
      exit 0
      ;;
    *)
      usage
      exit 1
      ;;
  esac
  if [ "${ignore_checks}" = 0 ]; then
    checks
  fi
  generate_env
  if [ "${ignore_checks}" = 0 ]; then
    post_checks
  fi
}

# Run only when executed: tests source this file to call its functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
