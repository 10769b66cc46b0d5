"""The ``flowlineage ui`` command (registered by the root CLI, not here)."""

from __future__ import annotations

from typing import Annotated

import typer

from .queries import connect_cli
from .server import TOKEN_ENV, check_options, serve


def ui_command(
    host: Annotated[str, typer.Option(help="Interface to bind; not loopback needs a token.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    token: Annotated[str | None, typer.Option(
        help=f"Token every request must carry (default: ${TOKEN_ENV}).",
        show_default=False)] = None,
) -> None:
    """Browse runs, artifacts and collections, with an interactive lineage graph."""
    token = check_options(host, port, token)
    connect_cli()
    where = f"[{host}]" if ":" in host else host

    def ready(bound: int) -> None:
        url = f"http://{where}:{bound}/runs"
        typer.echo(f"flowlineage ui on {url}" + (" (open it once with ?token=TOKEN)" if token
                                                  else "") + "; Ctrl+C stops it", err=True)

    serve(host, port, token, ready)
