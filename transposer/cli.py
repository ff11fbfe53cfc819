"""`transposer`: a thin click group whose subcommands live in transposer/commands/<name>.py.

Each subcommand module exposes a click command named `command` and is imported only when that
subcommand runs, so `transposer --version` and `transposer --help` never import torch or
onnxruntime. A module that is missing, or whose optional dependencies (extras) are not
installed, becomes a stub that says so in one line.

Every error, click's usage errors included, is printed as one line `Error: ...` on stderr with
a non-zero exit code and no traceback. A bare `transposer` prints the help and exits 0. SIGTERM
and SIGHUP stop a run like Ctrl-C does (exit 128 + signal number), so atomic writes remove their
temporary files.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading

import click

from transposer import __version__

# name -> (one-line help shown by `transposer --help`, the pip extra the command needs)
COMMANDS = {
    "expand": ("Expand textures 2x, 4x or to any size (ONNX runtime; no torch needed).", "cpu"),
    "train": ("Train or resume a Transposer model into a run folder.", "train"),
    "eval": ("Score a model against baselines on held-out textures.", "train"),
    "export": ("Export a trained checkpoint to the ONNX model the runtime uses.", "train"),
}


def _stub(name: str, message: str) -> click.Command:
    def fail(**_):
        raise click.ClickException(message)

    return click.Command(name, callback=fail, help=message, add_help_option=False,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class LazyGroup(click.Group):
    """Lists COMMANDS without importing them; imports one on use; prints errors in one line."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module_name = f"transposer.commands.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                return _stub(name, f"`transposer {name}` is not part of this installation "
                                   f"({module_name} is missing)")
            extra = COMMANDS[name][1]
            return _stub(name, f"`transposer {name}` needs the Python package {error.name!r}: "
                               f"pip install 'transposer[{extra}]'")
        command = getattr(module, "command", None)
        if not isinstance(command, click.Command):
            return _stub(name, f"`transposer {name}`: {module_name} defines no click command named `command`")
        return command

    def format_commands(self, ctx, formatter):
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (text, _) in COMMANDS.items()])

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        previous = _catch_termination()
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:  # a bare `transposer`: help, success
            click.echo(error.ctx.get_help())
            sys.exit(0)
        except click.UsageError as error:
            hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx is not None else ""
            _fail(f"{error.format_message()}{hint}", error.exit_code)
        except click.ClickException as error:
            _fail(error.format_message(), error.exit_code)
        except (click.Abort, KeyboardInterrupt):
            _fail("interrupted", 130)
        except OSError as error:  # a file-system failure no command caught: one line naming the path
            from transposer.runtime.files import first_line

            _fail(first_line(error), 1)
        except BaseException as error:  # files.Terminated, from the handler below
            files = sys.modules.get("transposer.runtime.files")
            if files is None or not isinstance(error, files.Terminated):
                raise
            _fail(f"interrupted: {error}", 128 + error.signum)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        sys.exit(code if isinstance(code, int) else 0)


def _catch_termination() -> dict:
    """SIGTERM and SIGHUP unwind like Ctrl-C (so atomic writes remove their temporary files) and
    end in one `Error: interrupted` line. Installed without importing the runtime, which
    `--version` and `--help` never load. Returns the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def terminate(signum, frame):
        from transposer.runtime.files import Terminated, remove_live_temps

        remove_live_temps()
        raise Terminated(signum)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, terminate)
    return previous


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {' '.join(message.split())}", err=True)
    sys.exit(code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="transposer", message="%(prog)s %(version)s")
def cli():
    """Texture expansion with the Transposer network: a small texture in, a larger texture of the
    same material out, in one forward pass."""


# The console entry point (`transposer`, `python -m transposer`) is the group itself: calling it
# parses sys.argv (or a given list) and exits; being a click command, tests can invoke it too.
main = cli


if __name__ == "__main__":  # pragma: no cover
    main()
