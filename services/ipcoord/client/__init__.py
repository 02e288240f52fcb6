"""What a bureau system imports to work with ipcoord.

- ``Publisher``: puts the bureau's reports and its departments' discipline feedback on the
  shared log (kafka-python, idempotent producer, ``acks=all``), each in a well-formed envelope
  under the bureau's name and the key the services expect.
- ``Services``: typed gRPC stubs of the three services, every call with a deadline and
  UNAVAILABLE (a rebalance or a recovery under way) retried by gRPC itself, with mTLS from
  three files (``Tls``) or, in development, the bureau named in a header.

    from ipcoord.client import Publisher, Services, Tls
    tls = Tls(cert="ipb-sz.crt", key="ipb-sz.key", ca="ipcoord-ca.crt")
    with Publisher("kafka:9093", "ipb-sz", tls=tls) as log:
        event_id = log.submit(report)          # an ipcoord.v1.ReportSubmitted
    services = Services(tls=tls)
    case = services.intake.GetCase(GetCaseRequest(case_id="..."))
"""

from ipcoord.client.grpc import Services, Tls
from ipcoord.client.publisher import Publisher

__all__ = ["Publisher", "Services", "Tls"]
