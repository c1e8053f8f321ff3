#!/usr/bin/env python3
"""The privatelink-autowire AWS test bed: moto's server, all services, plus our extensions.

    python tests/emulator/server.py --host 127.0.0.1 --port 5055

Runs in the foreground. Prints exactly one line to stdout once the socket is bound and
requests are being served:

    emulator listening on http://HOST:PORT

(`--port 0` picks a free port; the line carries the real one.) `GET /_autowire/health`
answers 200 with a small JSON body, so scripts can wait for readiness; `/_autowire/outbox`
serves the Lambda outbox (see autowire_ext/lambda_outbox.py), `/_autowire/quotas` the account
quotas (autowire_ext/quotas.py). Everything else is moto's own server, with the patches from
`autowire_ext` applied before the first request.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def _health_middleware(app, extensions):
    """Answers GET /_autowire/health and the control endpoints (outbox, quotas) itself; passes
    every other request to moto."""
    from autowire_ext import lambda_outbox, quotas

    health = ("200 OK", json.dumps({"status": "ok", "extensions": extensions}).encode())

    def health_check(environ):
        return health if environ.get("PATH_INFO") == "/_autowire/health" else None

    handlers = (health_check, lambda_outbox.handle, quotas.handle)

    def wrapped(environ, start_response):
        answer = next((a for a in (h(environ) for h in handlers) if a is not None), None)
        if answer is None:
            return app(environ, start_response)
        status, body = answer
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return wrapped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    args = parser.parse_args(argv)

    # moto reads its own port from the environment for a few generated URLs.
    os.environ.setdefault("MOTO_PORT", str(args.port))

    import autowire_ext

    applied = autowire_ext.apply()

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    moto_app = DomainDispatcherApplication(create_backend_app)
    app = _health_middleware(moto_app, applied)

    handler = MotoRequestHandler
    if args.quiet:

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *a, **k):  # noqa: D401 - werkzeug hook
                pass

        handler = QuietHandler

    server = make_server(args.host, args.port, app, threaded=True, request_handler=handler)
    port = server.socket.getsockname()[1]
    os.environ["MOTO_PORT"] = str(port)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    print(f"emulator listening on http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Nothing is persisted: skip the interpreter's slow teardown of moto's state.
    os._exit(code)
