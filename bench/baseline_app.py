"""The benchmark's baseline: a bare Flask app on the same gunicorn stack as igcds.

It only reads and parses the JSON body (orjson, the parser igcds uses) and answers one fixed card,
so ``service req/s / baseline req/s`` measures what igcds adds on top of HTTP + Flask + JSON.
Served by ``cds_service.server.run_gunicorn`` — the same function ``igcds serve`` uses, with the same
options — so worker model, threads, keep-alive and logging settings are identical.

    python bench/baseline_app.py --port 8099 [--workers 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson
from flask import Flask, Response, request

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIXED = orjson.dumps({"cards": [{
    "uuid": "5f1c39b4-2b0a-4a83-9b62-8f8f5a3c2d11",
    "summary": "Baseline card",
    "indicator": "info",
    "source": {"label": "baseline"},
}]})


def create_baseline() -> Flask:
    app = Flask("baseline")

    @app.post("/cds-services/<service_id>")
    def call(service_id: str) -> Response:
        body = orjson.loads(request.get_data(cache=False))
        if not isinstance(body, dict):
            return Response(b'{"error":"invalid-request"}', status=400, mimetype="application/json")
        return Response(FIXED, status=200, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', mimetype="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from cds_service.server import run_gunicorn

    run_gunicorn(create_baseline, host=args.host, port=args.port, workers=args.workers, threads=args.threads)


if __name__ == "__main__":
    main()
