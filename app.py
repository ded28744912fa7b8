"""pledgebox: `app` is the WSGI application; `python app.py COMMAND` runs the command line."""

import sys

from pledgebox import cli, config, web

if __name__ == "__main__":
    sys.exit(cli.main())

app = web.build_app(config.load())
