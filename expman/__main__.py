"""`python -m expman`: the same as the `expman` command."""

from expman.cli.main import main

raise SystemExit(main())
