"""The command line: the grammar (`arguments`), dispatch and the one error boundary
(`main`: exceptions become messages and exit codes), where a command acts (`locate`),
the reading commands' glue (`readers`), one module per subcommand (`commands/`), the
files `expman init` writes (`templates/`), and the entry point inside a Slurm job
(`slurm_job`).

Imports: everything below it. Nothing imports it but `python -m expman`.
"""
