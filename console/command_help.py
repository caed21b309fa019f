"""`help` and `help COMMAND`: the command list by topic, and one command's usage and flags."""

from __future__ import annotations

from console.command_grammar import CommandSpec, Grammar

_SIGNATURE_WIDTH = 28
_FLAG_WIDTH = 34


def help_lines(grammar: Grammar, topic: str | None = None) -> list[str]:
    """The lines `help` prints: every command, or only those `topic` names."""
    if not topic:
        return _overview(grammar.specs())
    words = " ".join(topic.split())
    group = [spec for spec in grammar.specs() if spec.name.startswith(f"{words} ")]
    if group:
        return _overview(group)
    return _details(grammar.spec(words))


def _overview(specs: list[CommandSpec]) -> list[str]:
    lines: list[str] = []
    groups: dict[str, list[CommandSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.group, []).append(spec)
    for group, members in groups.items():
        if lines:
            lines.append("")
        lines.append(f"{group}:")
        for spec in members:
            signature = " ".join([spec.name, *(arg.usage for arg in spec.args)])
            lines.append(f"  {signature:<{_SIGNATURE_WIDTH}} {spec.summary}")
    lines += ["", "help COMMAND tells its arguments and flags; every command takes -w json."]
    return lines


def _details(spec: CommandSpec) -> list[str]:
    lines = [f"usage: {spec.usage}", f"  {spec.summary}"]
    if spec.aliases:
        lines.append(f"  also: {', '.join(spec.aliases)}")
    flags = spec.all_flags
    if flags:
        lines += ["", "flags:"]
        for flag in flags:
            usage = f"-{flag.short}, {flag.usage}" if flag.short else flag.usage
            lines.append(f"  {usage:<{_FLAG_WIDTH}} {flag.help}")
    return lines
