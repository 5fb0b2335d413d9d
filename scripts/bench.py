"""``tessera bench``: benchmarks that print their figures and configuration."""

__all__ = ["register"]


def register(commands, add_param_arguments, params_from_args):
    """Add the ``bench`` command and its subcommands to ``commands`` (argparse subparsers)."""
    p = commands.add_parser("bench", help="run benchmarks and print their figures",
                            description="Run benchmarks; each prints its configuration and "
                                        "figures.")
    p.set_defaults(func=lambda args: p.print_help() or 0)
