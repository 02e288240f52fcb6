"""The `ipcoord` command (typer + rich): run the services, look things up, follow the log.

Each group lives in its own module; this one holds the global options. `main` is the click
command typer builds, so `ipcoord = "ipcoord.cli:main"` and click's test runner both use it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

# typer vendors click (typer._click) and raises its exceptions, not the click package's.
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup

from ipcoord.cli import admin, cases, credit, demo, logs, notifications, replay, submit
from ipcoord.cli.common import Connection, errors
from ipcoord.client import Tls


class _OneLineErrors(TyperGroup):
    """Usage mistakes (an unknown option, a bad value) as one line too, like every other
    error of the command (common.reported), with where to look: not a boxed panel."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()  # the help, as asked for by giving nothing
            sys.exit(exc.exit_code)
        except ClickException as exc:
            where = f" (`{exc.ctx.command_path} --help`)" if getattr(exc, "ctx", None) else ""
            errors.print(
                f"error: {exc.format_message()}{where}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="ipcoord: coordination of IP enforcement across bureaus.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    # Errors are one line (common.reported); never a local-variables traceback.
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    intake: Annotated[
        str, typer.Option(envvar="IPCOORD_INTAKE", help="Intake's gRPC address.")
    ] = "localhost:50051",
    credit_address: Annotated[
        str,
        typer.Option("--credit", envvar="IPCOORD_CREDIT", help="Credit records' gRPC address."),
    ] = "localhost:50052",
    notifications_address: Annotated[
        str,
        typer.Option(
            "--notifications",
            envvar="IPCOORD_NOTIFICATIONS",
            help="Notifications' gRPC address.",
        ),
    ] = "localhost:50053",
    bureau: Annotated[
        str | None,
        typer.Option(
            envvar="IPCOORD_AS_BUREAU",
            help="Act as this bureau (development only: services started without TLS).",
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(envvar="IPCOORD_TLS_CERT", help="Your client certificate.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(envvar="IPCOORD_TLS_KEY", help="Its private key.")
    ] = None,
    tls_ca: Annotated[
        Path | None, typer.Option(envvar="IPCOORD_TLS_CA", help="The CA of the services.")
    ] = None,
    deadline: Annotated[
        float, typer.Option(min=0.1, help="Seconds each gRPC call may take.")
    ] = 10.0,
    kafka: Annotated[
        str | None,
        typer.Option(
            envvar="KAFKA_BOOTSTRAP_SERVERS",
            help="The broker(s), host:port[,...], for the commands that read the log.",
        ),
    ] = None,
) -> None:
    if kafka:  # the Settings every command reads take it from the environment
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka
    tls_files = (tls_cert, tls_key, tls_ca)
    if any(tls_files) and not all(tls_files):
        raise typer.BadParameter("give all three of --tls-cert, --tls-key and --tls-ca")
    ctx.obj = Connection(
        intake=intake,
        credit=credit_address,
        notifications=notifications_address,
        bureau=bureau,
        tls=Tls(tls_cert, tls_key, tls_ca) if all(tls_files) else None,
        deadline_s=deadline,
    )


admin.register(app)
submit.register(app)
app.add_typer(cases.app, name="case")
app.add_typer(cases.actions, name="action")
app.add_typer(credit.app, name="credit")
app.add_typer(notifications.app, name="notifications")
logs.register(app)
replay.register(app)
demo.register(app)
app.add_typer(admin.topics, name="topics")

main = typer.main.get_command(app)
