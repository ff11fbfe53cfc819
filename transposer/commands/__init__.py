"""Subcommands of `transposer`, one module each (expand, train, eval, export).

Contract: a module `transposer/commands/<name>.py` defines a click command named `command`, does
its heavy imports (torch, onnxruntime) inside the command body, and reports user errors by
raising click.ClickException with a one-line message. The group in transposer/cli.py lists
the commands without importing these modules.
"""
