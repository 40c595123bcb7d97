"""Generic command-line runner: ``serve``, ``evaluate``, ``rules``, ``report``.

An application describes itself with an :class:`AppSpec` (how to load its configuration, build
its WSGI app, list its rules, and report) and calls :func:`main`; the commands are the same for
any CDS service built on this framework.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from .addresses import is_loopback_host
from .auth import AuthContext
from .config import Config
from .errors import CdsError, ConfigError, RegistryError
from .terminal import printable, terminal_json


@dataclass(frozen=True)
class AppSpec:
    prog: str
    description: str
    #: (config path or None, overrides) -> validated Config
    load_config: Callable[[str | None, dict[str, Any]], Config]
    #: Config -> Flask app
    build_app: Callable[[Config], Any]
    #: -> rule catalog rows (dicts with id, services, indicator, source)
    catalog: Callable[[], list[dict[str, Any]]]
    #: (config, argv) -> exit code; None when the application has no report
    report: Callable[[Config, Sequence[str]], int] | None = None
    #: Expands relative-date markers in demo requests (``@now-10d``); identity by default.
    expand_request: Callable[[Any, datetime], Any] | None = None
    #: (config, format) -> the whole catalog as a document, for ``rules --format <format>``.
    render_catalog: Callable[[Config, str], str] | None = None
    #: The formats ``render_catalog`` knows (e.g. markdown, html, json).
    catalog_formats: tuple[str, ...] = ()


def main(spec: AppSpec, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=spec.prog, description=spec.description)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the production server (gunicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=None)
    serve.add_argument("--threads", type=int, default=None)
    serve.add_argument("--config", default=None, help="TOML configuration file (or $IGCDS_CONFIG)")
    serve.add_argument("--dev", action="store_true",
                       help="disable JWT authentication (loopback addresses only)")

    evaluate = sub.add_parser("evaluate", help="run one CDS Hooks request in-process and print the response")
    evaluate.add_argument("request", help="path to a CDS Hooks request JSON file ('-' for stdin)")
    evaluate.add_argument("--service", default=None, help="service id (default: from the path or the hook)")
    evaluate.add_argument("--fhir-server", default=None, help="FHIR base URL to fetch missing prefetch from")
    evaluate.add_argument("--now", default=None, help="evaluate as of this ISO-8601 time (default: now)")
    evaluate.add_argument("--config", default=None)

    rules = sub.add_parser("rules", help="print the rule catalog")
    rules.add_argument("--json", action="store_true", help="the rule list as JSON (the body of GET /rules)")
    rules.add_argument("--format", choices=("text", *spec.catalog_formats), default="text",
                       help="text: the rule list; otherwise the whole catalog (rules, tables, site policy in effect)")
    rules.add_argument("--config", default=None, help="TOML configuration whose site policy the catalog shows")
    rules.add_argument("--output", default=None, help="write the catalog to this file instead of stdout")

    report = sub.add_parser("report", help="feedback statistics per rule", add_help=False)
    report.add_argument("rest", nargs=argparse.REMAINDER)

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        # argparse.REMAINDER loses option-like words that come first (bpo-17050): pass them through as is
        args = argparse.Namespace(command="report", rest=argv[1:])
    else:
        args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(spec, args)
        if args.command == "evaluate":
            return _evaluate(spec, args)
        if args.command == "rules":
            return _rules(spec, args)
        if args.command == "report":
            if spec.report is None:
                print(f"{spec.prog}: this application has no report", file=sys.stderr)
                return 2
            rest = list(args.rest)
            config_path = None
            if "--config" in rest:
                i = rest.index("--config")
                config_path = rest[i + 1] if i + 1 < len(rest) else None
                del rest[i:i + 2]
            return spec.report(spec.load_config(config_path, {}), rest)
    except (ConfigError, RegistryError) as exc:
        print(f"{spec.prog}: configuration error: {printable(exc)}", file=sys.stderr)
        return 2
    return 2


def _serve(spec: AppSpec, args: argparse.Namespace) -> int:
    # The host as gunicorn binds it (``::1`` unbracketed), judged as the proxy warning and the app's dev
    # guard judge it: loopback is localhost, 127.0.0.0/8 or ::1.
    loopback = is_loopback_host(args.host)
    if args.dev and not loopback:
        print(f"{spec.prog}: --dev disables authentication and is only allowed on a loopback address "
              f"(got --host {printable(args.host)})", file=sys.stderr)
        return 2
    overrides: dict[str, Any] = {"dev": True} if args.dev else {}
    config = spec.load_config(args.config, overrides)
    if config.dev and not loopback:
        print(f"{spec.prog}: dev mode is only allowed on a loopback address", file=sys.stderr)
        return 2
    from .metrics import prepare_multiprocess_dir

    # Before anything builds metrics: every worker inherits PROMETHEUS_MULTIPROC_DIR (a fresh dir).
    prepare_multiprocess_dir(config.server.data_dir)
    spec.build_app(config)  # fail fast on a bad configuration (and migrate storage) before forking
    if config.dev:
        print("WARNING: DEV MODE - CDS Hooks JWT authentication is DISABLED. "
              "Never expose this server beyond this machine.", file=sys.stderr, flush=True)
    warning = proxy_warning(args.host, config)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    from .server import run_gunicorn

    run_gunicorn(
        lambda: spec.build_app(config),
        host=args.host,
        port=args.port,
        workers=args.workers or config.server.workers,
        threads=args.threads or config.server.threads,
    )
    return 0


def proxy_warning(host: str, config: Config) -> str | None:
    """The start-up warning of a server reachable beyond this machine with no buffering proxy declared
    in front: sync workers serve one connection each, so slow clients can hold all of them."""
    if is_loopback_host(host) or config.server.behind_proxy:
        return None
    return (f"WARNING: listening on {host} with no buffering proxy declared in front "
            "([server] behind_proxy = false). Each gunicorn worker serves one connection at a time: a few "
            "clients sending slowly can hold every worker and starve the health checks. Put haproxy or nginx "
            "with header/body timeouts in front (deploy/haproxy/, docs/operations.md \"Slow clients\") and "
            "set [server] behind_proxy = true.")


def _evaluate(spec: AppSpec, args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.request == "-" else Path(args.request).read_text(encoding="utf-8")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        print(json.dumps({"error": "invalid-request", "message": f"not JSON: {exc}"}))
        return 1
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if spec.expand_request is not None:
        body = spec.expand_request(body, now)
    # Offline and side-effect free: no audit rows, nothing written to the working directory.
    with tempfile.TemporaryDirectory(prefix="igcds-evaluate-") as scratch:
        overrides: dict[str, Any] = {
            "dev": True,
            "server": {"data_dir": scratch},
            "storage": {"audit": False, "url": f"sqlite:///{scratch}/evaluate.db"},
            "logging": {"level": "WARNING"},
        }
        if args.fhir_server:
            body["fhirServer"] = args.fhir_server
            overrides["fhir"] = {"allowed_servers": [args.fhir_server]}
        config = spec.load_config(args.config, overrides)
        app = spec.build_app(config)
        state = app.extensions["cds_service"]
        state.runner.clock = lambda: now
        service_id = args.service or _guess_service(state.registry, args.request, body)
        try:
            outcome = state.runner.run(service_id, body, AuthContext())
        except CdsError as exc:
            error = {**exc.to_dict(), "status": exc.status_code}
            print(terminal_json(orjson.dumps(error, option=orjson.OPT_INDENT_2).decode()))
            return 1
    print(terminal_json(orjson.dumps(outcome.document, option=orjson.OPT_INDENT_2).decode()))
    return 0


def _guess_service(registry: Any, path: str, body: Any) -> str:
    parent = Path(path).parent.name
    if parent in registry.ids():
        return parent
    hook = body.get("hook") if isinstance(body, dict) else None
    matches: list[str] = sorted({s.id for s in registry if s.hook == hook})
    if len(matches) == 1:
        return matches[0]
    raise SystemExit(f"cannot tell which service to call for hook {printable(repr(hook))}; use --service")


def _rules(spec: AppSpec, args: argparse.Namespace) -> int:
    if args.format != "text" and spec.render_catalog is not None:
        document = spec.render_catalog(spec.load_config(args.config, {}), args.format)
        if args.output:
            _write_atomically(Path(args.output), document)
        else:  # UTF-8 whatever the terminal's locale says: the catalog is full of "≤", "µg" and "—"
            sys.stdout.flush()
            sys.stdout.buffer.write(document.encode("utf-8"))
            sys.stdout.buffer.flush()
        return 0
    rows = spec.catalog()
    if args.json:
        print(json.dumps({"rules": rows}, indent=2))
        return 0
    if not rows:
        print("(no rules)")
        return 0
    print(f"{'RULE':38} {'SERVICES':34} {'INDICATOR':18} SOURCE")
    for row in rows:
        services = ",".join(row.get("services", []))
        source = row.get("source", {}).get("label", "")
        print(printable(f"{row['id']:38} {services:34} {row.get('indicator', ''):18} {source}"))
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step, so a reader (or ``git diff``) never sees half a catalog."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as handle:
        handle.write(text)
    Path(handle.name).replace(path)
