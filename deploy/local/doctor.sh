#!/usr/bin/env bash
# Checks what `make dev` and `make test` need and says exactly what is missing.
set -u
missing=0
check() {  # name, command that must succeed, how to get it
  if eval "$2" >/dev/null 2>&1; then printf '  ok       %s\n' "$1"
  else printf '  MISSING  %s: %s\n' "$1" "$3"; missing=1; fi
}
echo "ipcoord doctor:"
check "python 3.11+" "${PYTHON:-python3} -c 'import sys; assert sys.version_info >= (3, 11)'" \
      "install Python 3.11 or newer (or set PYTHON=/path/to/python3.11)"
check "python venv module" "${PYTHON:-python3} -c 'import venv, ensurepip'" \
      "apt-get install python3-venv"
check "java 17+" "java -version 2>&1 | grep -Eq 'version \"(1[7-9]|[2-9][0-9])'" \
      "apt-get install openjdk-17-jre-headless (Kafka 4.x needs Java 17+)"
check "maven" "mvn -v" "apt-get install maven (fetches the Kafka broker jars)"
check "make" "make --version" "apt-get install make"
check "git" "git --version" "apt-get install git (buf breaking compares with the last commit)"
if [[ $missing -ne 0 ]]; then echo "doctor: something is missing (see above)"; exit 1; fi
echo "doctor: all set"
