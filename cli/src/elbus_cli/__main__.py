"""``python -m elbus_cli``: the ``elbus`` command."""

from . import main

raise SystemExit(main())
