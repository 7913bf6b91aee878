"""``shipyard server``: serve the REST API (and the web UI when installed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._edge import AllowedHosts, ForwardedAllowIps, max_auth_failures_option, parse_proxies
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.core.settings import Settings
    from shipyard.server.agents import AgentTarget


def _parse_size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        if value and value[-1] in units:
            return int(float(value[:-1]) * units[value[-1]])
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a size; use e.g. 500M, 10G or a number of bytes") from None


def _with_sso(settings: Settings, **flags: object) -> Settings:
    """``settings`` with the SSO flags that were given (validated like the environment's)."""
    from pydantic import ValidationError

    from shipyard.core.settings import Settings

    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return settings
    try:
        return Settings.model_validate({**settings.model_dump(), **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + "-".join(str(p) for p in first["loc"]).replace("_", "-")
        raise typer.BadParameter(f"{option}: {first['msg']}") from None


def register(app: typer.Typer) -> None:
    @app.command("server")
    def server(  # noqa: PLR0917 (Typer maps parameters to options)
        ctx: typer.Context,
        host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8080,
        no_auth: Annotated[
            bool, typer.Option("--no-auth", help="Serve without tokens (refused except on loopback).")
        ] = False,
        backend_uri: Annotated[
            str | None, typer.Option("--backend-uri", help="Database for the server (default: SHIPYARD_URI).")
        ] = None,
        artifacts: Annotated[
            str | None, typer.Option("--artifacts", help="Artifact root (default: SHIPYARD_ARTIFACTS).")
        ] = None,
        max_upload: Annotated[
            str, typer.Option("--max-upload", help="Largest artifact upload, e.g. 10G.")
        ] = "10G",
        max_body: Annotated[str, typer.Option("--max-body", help="Largest JSON request body.")] = "64M",
        log_level: Annotated[str, typer.Option("--log-level")] = "info",
        monitors: Annotated[
            bool, typer.Option("--monitors", help="Also run the declared monitors on their schedules.")
        ] = False,
        allowed_hosts: AllowedHosts = None,
        max_auth_failures: Annotated[int, max_auth_failures_option("sign-ins")] = 20,
        oidc_issuer: Annotated[
            str | None,
            typer.Option(
                "--oidc-issuer",
                envvar="SHIPYARD_OIDC_ISSUER",
                help="OpenID Connect issuer URL: turns on 'Sign in with SSO' in the web UI.",
            ),
        ] = None,
        oidc_client_id: Annotated[
            str | None,
            typer.Option(
                "--oidc-client-id", envvar="SHIPYARD_OIDC_CLIENT_ID", help="This server's client id."
            ),
        ] = None,
        oidc_client_secret_file: Annotated[
            Path | None,
            typer.Option(
                "--oidc-client-secret-file",
                envvar="SHIPYARD_OIDC_CLIENT_SECRET_FILE",
                help="A file holding the client secret.",
            ),
        ] = None,
        oidc_username_claim: Annotated[
            str | None,
            typer.Option(
                "--oidc-username-claim",
                envvar="SHIPYARD_OIDC_USERNAME_CLAIM",
                help="The claim naming the shipyard user: preferred_username (default) or email.",
            ),
        ] = None,
        oidc_auto_create: Annotated[
            bool,
            typer.Option(
                "--oidc-auto-create",
                envvar="SHIPYARD_OIDC_AUTO_CREATE",
                help="Create unknown SSO users, with no role (an admin binds roles).",
            ),
        ] = False,
        public_url: Annotated[
            str | None,
            typer.Option(
                "--public-url",
                envvar="SHIPYARD_PUBLIC_URL",
                help="The server's external URL (the SSO redirect; default: from each request).",
            ),
        ] = None,
        forwarded_allow_ips: ForwardedAllowIps = "",
        ci_trust: Annotated[
            Path | None,
            typer.Option(
                "--ci-trust",
                envvar="SHIPYARD_CI_TRUST_FILE",
                help="A YAML file of trust rules: CI OIDC tokens exchanged for short-lived machine tokens.",
            ),
        ] = None,
        agent: Annotated[
            list[str] | None,
            typer.Option(
                "--agent",
                help="Also run this environment's deployments (what apply/sync recorded), as "
                "`shipyard agent -e ENV --applied` does; repeat for more environments.",
            ),
        ] = None,
        agent_file: Annotated[
            Path,
            typer.Option(
                "--agent-file", help="With --agent: the project's spec (its folder holds flow files)."
            ),
        ] = Path("shipyard.yaml"),
        agent_project: Annotated[
            str | None,
            typer.Option("--agent-project", help="With --agent: the project (default: the spec's)."),
        ] = None,
    ) -> None:
        """Serve the REST API on HOST:PORT. Authentication is on: the first start creates user
        'admin' and prints its token once (or uses SHIPYARD_ADMIN_TOKEN).

        With --agent ENV the server also runs ENV's deployments, restarting its agent if it exits."""
        from shipyard.security.network import parse_allowed_hosts
        from shipyard.server.app import ServerConfig
        from shipyard.server.run import serve

        settings = state(ctx).settings
        if backend_uri is not None:
            settings = settings.model_copy(update={"uri": backend_uri})
        if artifacts is not None:
            settings = settings.model_copy(update={"artifacts": artifacts})
        settings = _with_sso(
            settings,
            oidc_issuer=oidc_issuer,
            oidc_client_id=oidc_client_id,
            oidc_client_secret_file=oidc_client_secret_file,
            oidc_username_claim=oidc_username_claim,
            oidc_auto_create=oidc_auto_create or None,
            public_url=public_url,
            ci_trust_file=ci_trust,
        )
        config = ServerConfig(
            auth=not no_auth,
            max_blob_bytes=_parse_size(max_upload),
            max_json_bytes=_parse_size(max_body),
            monitor_tick_s=30.0 if monitors else None,
            allowed_hosts=parse_allowed_hosts(allowed_hosts),
            auth_failures=max_auth_failures,
        )
        proxies = parse_proxies(forwarded_allow_ips)
        agents = _agents(agent or [], agent_file, agent_project)
        serve(settings, host, port, config, log_level=log_level, forwarded_allow_ips=proxies, agents=agents)

    @app.command("ui")
    def ui(
        ctx: typer.Context,
        port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 5000,
        host: Annotated[
            str, typer.Option("--host", help="Loopback address to bind (127.0.0.1, ::1 or localhost).")
        ] = "127.0.0.1",
    ) -> None:
        """Start the web UI for this machine's store on loopback and print its URL (Ctrl-C stops it).

        No sign-in, like `mlflow ui`: only this machine can reach it. For a team, run `shipyard
        server` (tokens, roles, SSO)."""
        from shipyard.security.network import check_no_auth_bind
        from shipyard.server.app import ServerConfig
        from shipyard.server.run import serve

        check_no_auth_bind(host)  # one-line refusal for anything but loopback
        _check_port_free(host, port)
        shown = f"[{host}]" if ":" in host else host
        print(f"shipyard ui: http://{shown}:{port}/ui/  (Ctrl-C to stop)", flush=True)
        serve(state(ctx).settings, host, port, ServerConfig(auth=False), log_level="warning")


def _check_port_free(host: str, port: int) -> None:
    """A one-line error now rather than uvicorn's log lines when the port is taken."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another with --port"
            ) from None


def _agents(environments: list[str], file: Path, project: str | None) -> list[AgentTarget]:
    """What --agent asks for, checked before anything starts (a name, a spec that validates)."""
    import re

    from shipyard.server.agents import AgentTarget
    from shipyard.server.contract import PROJECT_PATTERN

    if not environments:
        return []
    for name in [*environments, *([project] if project else [])]:
        if not re.fullmatch(PROJECT_PATTERN, name):
            raise typer.BadParameter(
                f"{name!r} is not an environment or project name (lower-case letters, digits, '-', '_')"
            )
    if len(set(environments)) != len(environments):
        raise typer.BadParameter("name each environment once", param_hint="'--agent'")
    if project is None:
        from shipyard.deploy.spec.load import load_spec

        project = load_spec(file).project.name  # a missing or broken spec fails here, with its place
    resolved = file.resolve()
    return [AgentTarget(env, resolved, project) for env in environments]
