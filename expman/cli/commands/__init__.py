"""One module per subcommand, each with one function returning an exit code."""
