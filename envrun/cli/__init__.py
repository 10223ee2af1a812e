"""The command line: the only package that prints or exits."""

from envrun.cli.app import main

__all__ = ["main"]
