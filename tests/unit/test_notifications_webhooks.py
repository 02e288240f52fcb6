"""Webhook signatures a receiver verifies with the Standard Webhooks library, and the URLs a
notification may not be POSTed to (the service's own network)."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime

import pytest
from ipcoord.notifications.webhooks import derived_secret, signed_headers, url_problem
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

KEY = b"k" * 32


def test_a_receiver_verifies_the_signature_with_the_standard_library():
    secret, body = (
        derived_secret(KEY, "ipb-sz", "S-1"),
        json.dumps({"notification_id": "n-1"}).encode(),
    )
    headers = signed_headers(secret, "n-1", datetime.now(UTC), body)
    assert headers["webhook-id"] == "n-1"
    assert Webhook(secret).verify(body, headers) == {"notification_id": "n-1"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"n-1", b"n-2"), headers)  # tampered
    with pytest.raises(WebhookVerificationError):
        Webhook(derived_secret(KEY, "ipb-sz", "S-2")).verify(body, headers)  # another's secret


def _resolving_to(*addresses):
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::5",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_a_url_that_reaches_the_services_own_network_is_refused(address):
    problem = url_problem("https://receiver.example/hook", resolve=_resolving_to(address))
    assert problem is not None and "own network" in problem


def test_one_inside_address_among_public_ones_is_enough_to_refuse():
    resolve = _resolving_to("93.184.216.34", "10.0.0.8")
    assert "10.0.0.8" in url_problem("https://mixed.example/", resolve=resolve)


def test_public_https_urls_pass_and_an_operator_may_allow_a_network():
    public = _resolving_to("93.184.216.34")
    assert url_problem("https://bureau.example/hooks/ipcoord", resolve=public) is None
    inside = _resolving_to("10.20.0.7")
    cluster = [ipaddress.ip_network("10.20.0.0/16")]
    assert url_problem("http://receiver.bureau.svc:8080/h", resolve=inside, allowed=cluster) is None
    assert url_problem("http://bureau.example/h", resolve=public) is not None  # https only


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://bureau.example/", "https"),
        ("https:///no-host", "https"),
        ("https://user:pw@bureau.example/", "credentials"),
        ("https://bureau.example:99999/", "not a URL"),
        ("https://bureau.example/" + "x" * 3000, "longer"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url, words):
    assert words in url_problem(url, resolve=_resolving_to("93.184.216.34"))


def test_a_host_that_does_not_resolve_is_refused():
    def fail(host, port):
        raise OSError("Name or service not known")

    assert "does not resolve" in url_problem("https://nowhere.invalid/", resolve=fail)


@pytest.mark.parametrize(
    "url", ["https://2130706433/x", "https://0x7f.1/x", "https://a..b/x", "https://-a.example/"]
)
def test_a_host_that_is_neither_a_name_nor_an_address_is_refused(url):
    problem = url_problem(url, resolve=_resolving_to("93.184.216.34"))
    assert problem is not None and "neither a host name nor an IP address" in problem


@pytest.mark.parametrize("url", ["https://example.com./h", "https://bücher.example/h"])
def test_a_trailing_dot_and_an_international_name_are_host_names(url):
    assert url_problem(url, resolve=_resolving_to("93.184.216.34")) is None
