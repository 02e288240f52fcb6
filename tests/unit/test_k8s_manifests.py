"""deploy/k8s, offline: every overlay rendered by kustomize and each object validated against
its schema (Kubernetes' from kubernetes-validate, strict; Strimzi's CRDs kept in the repo,
unknown fields refused as the API server's strict field validation does); the Strimzi topics
and users equal to what the topic registry says; every workload with its probes, resources,
security context, disruption budget, network policy and gRPC Service."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from ipcoord import k8s
from ipcoord.platform.topics import DISCIPLINE_FEEDBACK, INTAKE_SUBMISSIONS, Service
from ipcoord.topology import all_topics
from support.environment import unavailable

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
CRDS = K8S / "crds" / "strimzi-0.51.0"
# The Kubernetes version whose schemas the objects must meet (kubernetes-validate ships it).
KUBERNETES_VERSION = "1.34"
STRIMZI_API = "kafka.strimzi.io/v1"
SERVICES = {"intake": 50051, "credit": 50052, "notifications": 50053}
# Secrets Strimzi makes: the cluster CA, and one per KafkaUser (named after it).
STRIMZI_SECRETS = {"ipcoord-cluster-ca-cert", *(f"ipcoord-{s}" for s in SERVICES)}


def _kustomize() -> str:
    found = shutil.which("kustomize", path=str(Path(sys.executable).parent)) or shutil.which(
        "kustomize"
    )
    if found is None:
        unavailable("no kustomize: make install (deploy/install.sh --dev) puts it in .venv/bin")
    return found


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(
        [_kustomize(), "build", str(K8S / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def _of_kind(objects, kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _named(objects, kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in _of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def _examples() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / "examples" / "kafka-users.yaml").read_text()) if d]


# --- the generated files ------------------------------------------------------------------


def test_generated_manifests_are_the_ones_the_registry_makes():
    for relative, text in k8s.rendered().items():
        assert (K8S / relative).read_text() == text, (
            f"deploy/k8s/{relative} is stale: make manifests (python -m ipcoord.k8s deploy/k8s)"
        )


# --- schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_kubernetes_object_meets_the_kubernetes_schema_strictly(overlay):
    for obj in rendered(overlay):
        if obj["apiVersion"].startswith("kafka.strimzi.io/"):
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_replay_job_example_is_valid_and_reads_as_the_operator():
    (job,) = [
        d for d in yaml.safe_load_all((K8S / "examples" / "replay-job.yaml").read_text()) if d
    ]
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    pod = job["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"ipcoord-cluster-ca-cert", "ipcoord-operator"}
    (container,) = pod["containers"]
    assert container["args"][:2] == ["replay", "intake"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_kubernetes_validation_refuses_unknown_fields():
    service = _named(rendered("dev"), "Service", "intake")
    unknown = {**service, "spec": {**service["spec"], "publishNotReady": True}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, KUBERNETES_VERSION, strict=True)


def _strict(schema: Any) -> Any:
    """The CRD schema as the API server applies it with strict field validation: an object
    with declared properties refuses any other (unless it preserves unknown fields)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@cache
def strimzi_validators() -> dict[str, jsonschema.Draft7Validator]:
    validators = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schema = _strict(version["schema"]["openAPIV3Schema"])
        # metadata is Kubernetes' own (checked by the API server, not the CRD).
        schema["properties"]["metadata"] = {"type": "object"}
        validators[crd["spec"]["names"]["kind"]] = jsonschema.Draft7Validator(schema)
    return validators


def _strimzi_errors(obj: dict[str, Any]) -> list[str]:
    validator = strimzi_validators()[obj["kind"]]
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)
    ]


def test_the_strimzi_crds_are_the_recorded_ones():
    recorded = dict(
        re.findall(r"^\| (\S+\.yaml) \| ([0-9a-f]{64}) \|$", (CRDS / "SOURCE.md").read_text(), re.M)
    )
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in CRDS.glob("*.yaml")}
    assert files == recorded
    assert set(strimzi_validators()) == {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_strimzi_resource_meets_its_crd_schema_strictly(overlay):
    strimzi = [o for o in rendered(overlay) if o["apiVersion"].startswith("kafka.strimzi.io/")]
    assert {o["kind"] for o in strimzi} == {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
    for obj in [*strimzi, *_examples()]:
        assert obj["apiVersion"] == STRIMZI_API
        assert _strimzi_errors(obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"


def test_the_crd_validation_refuses_what_the_api_server_would():
    user = k8s.service_users()[0]
    unknown = {**user, "spec": {**user["spec"], "acl": []}}
    assert any("'acl' was unexpected" in e for e in _strimzi_errors(unknown))
    acl = user["spec"]["authorization"]["acls"][0]
    bad_op = {**acl, "operations": ["Produce"]}
    wrong = {
        **user,
        "spec": {**user["spec"], "authorization": {"type": "simple", "acls": [bad_op]}},
    }
    assert _strimzi_errors(wrong)
    topic = k8s.kafka_topic(INTAKE_SUBMISSIONS)
    assert _strimzi_errors({**topic, "spec": {**topic["spec"], "partitions": 0}})


# --- topics and users against the registry ----------------------------------------------


@pytest.mark.parametrize(("overlay", "replicas"), [("dev", 1), ("prod", 3)])
def test_every_registry_topic_has_exactly_one_kafka_topic_equal_to_it(overlay, replicas):
    topics = _of_kind(rendered(overlay), "KafkaTopic")
    by_name: dict[str, list[dict]] = {}
    for topic in topics:
        by_name.setdefault(topic["spec"]["topicName"], []).append(topic)
    specs = all_topics()
    assert set(by_name) == {spec.name for spec in specs}
    for spec in specs:
        (topic,) = by_name[spec.name]
        assert topic["spec"]["partitions"] == spec.partitions, spec.name
        assert topic["spec"]["config"] == spec.config(), spec.name
        assert topic["spec"]["replicas"] == replicas, spec.name
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "ipcoord"
    assert len({t["metadata"]["name"] for t in topics}) == len(topics)


def _grants(user: dict[str, Any]) -> set[tuple[str, str, str]]:
    grants = set()
    for acl in user["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        assert resource.get("patternType", "literal") == "literal"
        assert acl.get("type", "allow") == "allow"
        assert acl.get("host", "*") == "*"
        for op in acl["operations"]:
            grants.add((resource["type"], resource["name"], op))
    return grants


def _registry_grants(who: Service, topics) -> set[tuple[str, str, str]]:
    """What the registry says ``who`` may do, computed here apart from the generator."""
    grants = set()
    for spec in topics:
        if who in spec.producers:
            grants |= {("topic", spec.name, "Write"), ("topic", spec.name, "Describe")}
        if who in spec.consumers:
            grants |= {("topic", spec.name, "Read"), ("topic", spec.name, "Describe")}
    return grants


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_user_may_do_exactly_what_the_registry_says(overlay):
    users = _of_kind(rendered(overlay), "KafkaUser")
    for service in SERVICES:
        user = _named(users, "KafkaUser", f"ipcoord-{service}")
        assert user["spec"]["authentication"] == {"type": "tls"}
        expected = _registry_grants(Service(service), all_topics())
        expected.add(("group", f"ipcoord-{service}", "Read"))
        assert _grants(user) == expected, service


def test_the_operator_user_reads_every_topic_and_nothing_else():
    (user,) = [u for u in k8s.service_users() if u["metadata"]["name"] == "ipcoord-operator"]
    expected = {("topic", s.name, op) for s in all_topics() for op in ("Read", "Describe")}
    assert _grants(user) == expected


def test_external_producers_write_only_their_topic():
    by_role = {u["metadata"]["labels"]["role"]: u for u in _examples()}
    assert _grants(by_role["bureau-systems"]) == {
        ("topic", INTAKE_SUBMISSIONS.name, "Write"),
        ("topic", INTAKE_SUBMISSIONS.name, "Describe"),
    }
    assert _grants(by_role["departments"]) == {
        ("topic", DISCIPLINE_FEEDBACK.name, "Write"),
        ("topic", DISCIPLINE_FEEDBACK.name, "Describe"),
    }


def test_the_kafka_cluster_authenticates_and_authorizes_every_client():
    kafka = _named(rendered("prod"), "Kafka", "ipcoord")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert (listener["port"], listener["tls"]) == (9093, True)
    assert listener["authentication"] == {"type": "tls"}
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert set(kafka["spec"]["entityOperator"]) == {"topicOperator", "userOperator"}
    roles = [p["spec"]["roles"] for p in _of_kind(rendered("prod"), "KafkaNodePool")]
    assert sorted(roles) == [["broker"], ["controller"]]


# --- workloads --------------------------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_a_hardened_stateful_set_with_grpc_probes(overlay):
    objects = rendered(overlay)
    assert not _of_kind(objects, "Deployment")
    sets = _of_kind(objects, "StatefulSet")
    assert {s["metadata"]["name"] for s in sets} == set(SERVICES)
    for sts in sets:
        name, spec = sts["metadata"]["name"], sts["spec"]
        pod = spec["template"]["spec"]
        assert spec["podManagementPolicy"] == "Parallel"
        assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        assert pod["terminationGracePeriodSeconds"] >= 30
        (container,) = pod["containers"]
        assert container["args"] == ["serve", name]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        for probe in ("startupProbe", "readinessProbe"):
            assert set(container[probe]["grpc"]) == {"port"}, (name, probe)
        assert container["livenessProbe"]["grpc"]["service"] == "liveness"
        health = {p["containerPort"] for p in container["ports"] if p["name"] == "health"}
        probes = ("startupProbe", "readinessProbe", "livenessProbe")
        assert {container[p]["grpc"]["port"] for p in probes} == health
        assert all(container[p]["timeoutSeconds"] >= 3 for p in probes), name
        # The ports the process opens (the ConfigMap) are the ones declared and scraped.
        config = _config(objects)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert {str(ports["health"]), str(ports["metrics"])} == {
            config["IPCOORD_HEALTH_PORT"],
            config["IPCOORD_METRICS_PORT"],
        }
        assert ports["health"] == int(config["IPCOORD_HEALTH_PORT"])
        annotations = spec["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == config["IPCOORD_METRICS_PORT"]
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}, (name, bound)
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts["/var/lib/ipcoord/data"] == "data"
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in pod["volumes"]
        env = _env(container)
        assert env["IPCOORD_REPLICA_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert env["IPCOORD_GRPC_PORT"] == str(SERVICES[name])
        assert env["IPCOORD_ADVERTISED_HOST"] == (
            f"$(POD_NAME).{spec['serviceName']}.$(POD_NAMESPACE).svc"
        )
        names = [e["name"] for e in container["env"]]
        assert names.index("POD_NAME") < names.index("IPCOORD_ADVERTISED_HOST")
        # Secrets are files, never environment values.
        assert not any("secretKeyRef" in (e.get("valueFrom") or {}) for e in container["env"])
        assert not any("secretRef" in source for source in container.get("envFrom", []))


def _config(objects) -> dict[str, str]:
    return _named(objects, "ConfigMap", "ipcoord-config")["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_accepts_the_configuration_it_is_given(overlay, tmp_path):
    """The rendered environment is a configuration the services start with: Settings accept
    it, and credit's rules load against its bureau registry (every bureau they name is in
    it). Files come from Secrets on a cluster; here the Kafka ones are test certificates."""
    from ipcoord.credit.rules_file import DEFAULT_RULES_FILE, load_rules
    from ipcoord.platform.calendar import WorkingCalendar
    from ipcoord.platform.settings import Settings
    from support.pki import ThrowawayCA

    objects = rendered(overlay)
    cert, key, ca = ThrowawayCA().write_server_files(tmp_path)
    cluster_ca = tmp_path / "kafka-ca"  # a directory, as the mounted cluster CA Secret is
    cluster_ca.mkdir()
    (cluster_ca / "ca.crt").write_bytes(ca.read_bytes())
    kafka_files = {
        "IPCOORD_KAFKA_SSL_CA_FILE": str(cluster_ca),
        "IPCOORD_KAFKA_SSL_CERT_FILE": str(cert),
        "IPCOORD_KAFKA_SSL_KEY_FILE": str(key),
    }
    rules_files = {
        m["data"]["rules.yaml"]
        for m in _of_kind(objects, "ConfigMap")
        if m["metadata"]["name"].startswith("ipcoord-credit-rules")
    }
    for sts in _of_kind(objects, "StatefulSet"):
        (container,) = sts["spec"]["template"]["spec"]["containers"]
        env = {k: v for k, v in _env(container).items() if isinstance(v, str)}
        settings = Settings(**{**_config(objects), **env, **kafka_files})
        assert settings.tls_cert_file and not settings.insecure_dev_identity
        if sts["metadata"]["name"] != "credit":
            continue
        if settings.credit_rules is None:
            rules = DEFAULT_RULES_FILE
        else:  # the overlay's own rules, from its ConfigMap, where the variable says
            pod = sts["spec"]["template"]["spec"]
            (volume,) = [v for v in pod["volumes"] if "configMap" in v]
            (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
            assert str(settings.credit_rules) == f"{mount['mountPath']}/rules.yaml"
            (text,) = rules_files
            rules = tmp_path / "rules.yaml"
            rules.write_text(text)
        load_rules(rules, settings.bureau_registry, WorkingCalendar())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_its_services_budget_and_network_policy(overlay):
    objects = rendered(overlay)
    for sts in _of_kind(objects, "StatefulSet"):
        name = sts["metadata"]["name"]
        labels = sts["spec"]["template"]["metadata"]["labels"]
        port = SERVICES[name]
        service = _named(objects, "Service", name)
        assert _selects({"matchLabels": service["spec"]["selector"]}, labels)
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
            "grpc": port,
            "metrics": 9100,
        }
        peers = _named(objects, "Service", sts["spec"]["serviceName"])
        assert peers["spec"]["clusterIP"] == "None"
        assert peers["spec"]["publishNotReadyAddresses"] is True
        assert _selects({"matchLabels": peers["spec"]["selector"]}, labels)
        budgets = [
            p
            for p in _of_kind(objects, "PodDisruptionBudget")
            if _selects(p["spec"]["selector"], labels)
        ]
        assert [b["spec"] for b in budgets] == [
            {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}}
        ]
        policies = [
            p
            for p in _of_kind(objects, "NetworkPolicy")
            if _selects(p["spec"]["podSelector"], labels)
        ]
        assert len(policies) == 1, name
        policy = policies[0]["spec"]
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
        assert {53, 9093, port} <= egress_ports
        assert egress_ports - {53, 9093, port} == ({443} if name == "notifications" else set())
        ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
        assert ingress_ports == {"grpc", "metrics"}


def test_dev_secrets_are_generated_and_every_mounted_secret_exists():
    objects = rendered("dev")
    defined = {s["metadata"]["name"] for s in _of_kind(objects, "Secret")}
    for sts in _of_kind(objects, "StatefulSet"):
        for volume in sts["spec"]["template"]["spec"]["volumes"]:
            if "secret" in volume:
                secret = volume["secret"]["secretName"]
                assert secret in defined or secret in STRIMZI_SECRETS, secret


def test_prod_holds_no_secret_and_documents_every_one_it_mounts():
    objects = rendered("prod")
    assert not _of_kind(objects, "Secret")
    operations = (ROOT / "docs" / "operations.md").read_text()
    for sts in _of_kind(objects, "StatefulSet"):
        for volume in sts["spec"]["template"]["spec"]["volumes"]:
            if "secret" in volume:
                secret = volume["secret"]["secretName"]
                assert secret in STRIMZI_SECRETS or f"`{secret}`" in operations, secret


def test_prod_runs_a_pinned_image_spread_over_nodes():
    for sts in _of_kind(rendered("prod"), "StatefulSet"):
        pod = sts["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        image, _, tag = container["image"].rpartition(":")
        assert image and tag and tag != "latest" and "/" not in tag, container["image"]
        assert sts["spec"]["replicas"] >= 2
        anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert anti[0]["topologyKey"] == "kubernetes.io/hostname"


def test_tls_is_always_on():
    for overlay in OVERLAYS:
        config = _named(rendered(overlay), "ConfigMap", "ipcoord-config")
        data = config["data"]
        assert data["IPCOORD_INSECURE_DEV_IDENTITY"] == "false"
        assert data["IPCOORD_KAFKA_SECURITY_PROTOCOL"] == "SSL"
        assert data["KAFKA_BOOTSTRAP_SERVERS"].endswith(":9093")
        for key in ("IPCOORD_TLS_CERT_FILE", "IPCOORD_TLS_KEY_FILE", "IPCOORD_TLS_CLIENT_CA_FILE"):
            assert data[key].startswith("/etc/ipcoord/grpc-tls/")
