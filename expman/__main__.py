"""`python -m expman`: the same as the `expman` command."""

from expman.cli import main

raise SystemExit(main())
