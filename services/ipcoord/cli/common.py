"""What every `ipcoord` command shares: where the services are, who the caller is, one-line
errors instead of tracebacks, and output as rich tables for people or JSON for scripts."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import grpc
import typer
from google.protobuf.message import Message
from kafka.errors import KafkaError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ipcoord.client import Services, Tls
from ipcoord.platform.log_reader import as_dict
from ipcoord.platform.settings import Settings


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # The reader went away (`| head`): stop quietly, as other command-line tools do
        # (rich's own handler exits with status 1).
        _quiet_stdout()
        raise SystemExit(0)


console = _Console()
errors = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (one object per line).")]


class Failure(Exception):
    """A problem the user can act on, reported as one line and exit status 1."""


@dataclass
class Connection:
    """The global options: the services' addresses and the caller's identity."""

    intake: str = "localhost:50051"
    credit: str = "localhost:50052"
    notifications: str = "localhost:50053"
    bureau: str | None = None
    tls: Tls | None = None
    deadline_s: float = 10.0

    def named(self, service: str) -> str:
        """The service and its address ("intake at localhost:50051"), for error messages."""
        return f"{service} at {getattr(self, service)}"

    def services(self) -> Services:
        if self.tls is None and not self.bureau:
            raise Failure(
                "say who you are: --bureau ID (development, no TLS) or --tls-cert/--tls-key/"
                "--tls-ca (a bureau's certificate)"
            )
        try:
            return Services(
                self.intake,
                self.credit,
                self.notifications,
                tls=self.tls,
                dev_bureau=None if self.tls else self.bureau,
                deadline_s=self.deadline_s,
            )
        except OSError as exc:  # a TLS file
            raise Failure(f"cannot read the TLS files: {exc}") from exc


def connection(ctx: typer.Context) -> Connection:
    return ctx.obj if isinstance(ctx.obj, Connection) else Connection()


def settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable and the problem
        raise Failure(f"invalid configuration: {_one_line(str(exc))}") from exc


@contextlib.contextmanager
def reported(what: str = "") -> Iterator[None]:
    """Turns the failures a user meets (a service or the broker unreachable, a refusal, bad
    input) into one line on stderr and exit status 1."""
    try:
        yield
    except Failure as exc:
        _fail(str(exc))
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        name = code.name if code is not None else "ERROR"
        unanswered = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        hint = " (is it running? `make dev` starts it)" if code in unanswered else ""
        _fail(f"{what + ': ' if what else ''}{name}: {_one_line(details or '')}{hint}")
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other command-line tools do.
        _quiet_stdout()
        raise typer.Exit(0) from None
    except KafkaError as exc:
        _fail(f"cannot reach Kafka at {_bootstrap()}{over_tls()}: {_one_line(repr(exc))}")
    except (OSError, ValueError) as exc:
        _fail(f"{what + ': ' if what else ''}{_one_line(str(exc))}")
    except Exception as exc:
        if os.environ.get("IPCOORD_DEBUG"):
            raise
        _fail(
            f"unexpected {type(exc).__name__}: {_one_line(str(exc))} (IPCOORD_DEBUG=1 shows where)"
        )


def _quiet_stdout() -> None:
    # Python flushes stdout at exit; to a closed pipe that fails once more.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def one_of(choices: Iterable[str]) -> Callable[[str], str]:
    """A typer callback refusing anything but ``choices`` (the message lists them)."""
    allowed = sorted(choices)

    def check(value: str) -> str:
        if value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of: {', '.join(allowed)}")
        return value

    return check


def _bootstrap() -> str:
    try:
        return Settings().kafka_bootstrap_servers
    except Exception:
        return "the configured broker"


def over_tls() -> str:
    """How the broker was reached, when over TLS: a handshake the broker refused looks like
    any unreachable broker to the Kafka clients, so the message names the settings."""
    try:
        settings = Settings()
    except Exception:
        return ""
    if settings.kafka_security_protocol != "SSL":
        return ""
    if settings.kafka_ssl_cert_file is None:
        return " over TLS without a client certificate (IPCOORD_KAFKA_SSL_CERT_FILE)"
    return " over TLS (are IPCOORD_KAFKA_SSL_CA_FILE and the certificate the broker's?)"


def _fail(message: str) -> None:
    # Escaped: details such as "[Errno 2]" are text, not rich markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def print_json(value: Any) -> None:
    if isinstance(value, Message):
        value = as_dict(value)
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def show_message(message: Message, title: str) -> None:
    """A message as a two-column table: scalars as they are, nested values as compact JSON."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in as_dict(message).items():
        table.add_row(name, value if isinstance(value, str) else _compact(value))
    console.print(table)


def _compact(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return "\n".join(json.dumps(v, ensure_ascii=False) for v in value)
    return json.dumps(value, ensure_ascii=False)


def rows_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A table of data: cells are text as given (a reason with "[...]" in it is not markup);
    a cell that should be styled is a rich ``Text``."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else Text(_text(cell)) for cell in row))
    return table


def _text(cell: Any) -> str:
    return "" if cell is None else str(cell)
