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

post_checks() {
  local package_version min_version
  package_version="$(grep CARTO_SELFHOSTED_CUSTOMER_PACKAGE_VERSION .env | cut -d '=' -f 2- | tr -d '"')"
  min_version="$(tr -d '"\n' < MIN_VERSION)"
  (
    # shellcheck disable=SC2046
    export $(sed -e 's/#.*$//' .env | xargs)
    if [ "${LOCAL_POSTGRES_SCALE}" = "1" ]; then
      warn "Using embedded databases is not for PRODUCTION use"
    fi
    if [ -z "${POSTGRES_ADMIN_PASSWORD}" ]; then
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

main "$@"
