#!/usr/bin/env bash
# DEVELOPMENT ONLY. Writes the dev overlay's Secret files, committed so that the overlay
# renders anywhere: a throwaway CA ("ipcoord DEV ONLY CA"), each service's replica certificate
# (CN ipcoord-<service>, server and client use), the credit hash keys and the webhook key.
# Everything here is public: never use it outside a dev cluster. Run again to replace them.
set -euo pipefail
cd "$(dirname "$0")"
days=3650
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/O=ipcoord DEV ONLY/CN=ipcoord DEV ONLY CA - do not trust" \
  -keyout ca.key -out ca.crt 2>/dev/null
for service in intake credit notifications; do
  mkdir -p "$service"
  sans="DNS:ipcoord-$service,DNS:$service,DNS:$service.ipcoord-dev.svc"
  sans="$sans,DNS:*.$service-peers.ipcoord-dev.svc,DNS:localhost"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=ipcoord DEV ONLY/CN=ipcoord-$service" \
    -keyout "$service/tls.key" -out "$service/tls.csr" 2>/dev/null
  openssl x509 -req -in "$service/tls.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days "$days" -out "$service/tls.crt" \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans") \
    2>/dev/null
  rm "$service/tls.csr"
done
rm -f ca.srl
# {"current": id, "keys": {id: base64}}: the key is plainly not random.
key=$(printf 'DEV-ONLY-person-hash-key-not-secret' | base64)
printf '{"current": "dev-only", "keys": {"dev-only": "%s"}}\n' "$key" > person-hash-keys.json
# At least 32 bytes, and obviously not random.
printf 'DEV-ONLY-webhook-key-not-secret-never-use-in-production\n' > webhook.key
