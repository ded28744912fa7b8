"""The GET baseline: a bare WSGI app serving fixed bytes under waitress with pledgebox's own settings.

`python bench/bare.py RESPONSE.json PORT` (or `unix:PATH` for a UNIX socket, as behind an onion service);
RESPONSE.json holds the headers and (hex) body to serve, whatever the request.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import waitress  # noqa: E402

from pledgebox import serve  # noqa: E402


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    body = bytes.fromhex(spec["body"])
    headers = [(name, value) for name, value in spec["headers"]]

    def app(environ, start_response):
        start_response("200 OK", headers)
        return [body]

    serve.raise_fd_limit()
    where = sys.argv[2]
    if where.startswith("unix:"):
        waitress.serve(app, **serve.settings(unix_socket=where.removeprefix("unix:")))
    else:
        waitress.serve(app, **serve.settings(host="127.0.0.1", port=int(where)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
