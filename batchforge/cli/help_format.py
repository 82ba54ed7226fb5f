"""Help text that follows common CLI conventions: flags without a value, readable metavars, no Python types.

Typer's rich help prints a type after every parameter (``<bool>``, ``<list[str]>``, ``JOB <str>``); the
plain layout prints none for flags and the metavar each option declares. Arguments are listed by metavar.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup


def _option_records(command: Any, ctx: Any) -> list[tuple[str, str]]:
    return [
        record
        for param in command.get_params(ctx)
        if param.param_type_name == "option" and not param.hidden and (record := param.get_help_record(ctx))
    ]


class PlainCommand(TyperCommand):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name != "argument":
                continue
            name = (param.metavar or (param.name or "").upper()) + ("..." if param.nargs != 1 else "")
            pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                arguments.append((f"{name}..." if param.nargs != 1 else name, getattr(param, "help", None) or ""))
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        options = _option_records(self, ctx)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)


class PlainGroup(TyperGroup):
    def format_options(self, ctx: Any, formatter: Any) -> None:
        options = _option_records(self, ctx)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)
        self.format_commands(ctx, formatter)
