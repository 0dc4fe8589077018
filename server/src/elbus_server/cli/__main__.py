"""``python -m elbus_server.cli``: the ``elbus`` command."""

from . import main

raise SystemExit(main())
