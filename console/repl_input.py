"""What the REPL offers while a line is typed: completion and syntax highlighting.

`ConsoleCompleter` completes commands, subcommands, flags, flag values, member names, job ids
and live keys (asked of the cluster, with the Console's short timeout); `CommandLexer`
colours the verb, flags, quoted strings and numbers, and marks an unknown verb.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles import Style

from console.command_grammar import Expectation, Grammar
from console.commands import Console

STYLE = Style.from_dict(
    {
        "command": "ansiblue bold",
        "flag": "ansicyan",
        "string": "ansigreen",
        "number": "ansimagenta",
        "unknown": "ansired",
        "prompt": "ansigreen bold",
        "error": "ansired",
        "background": "ansiyellow",
        "note": "ansibrightblack",
    }
)
"""The REPL's colours, by the classes the lexer and the printer use."""

_PLAIN_WORD = re.compile(r"[\w@%+=:,./-]+")
_TOKEN = re.compile(r"""\s+|"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s"']+""")


class ConsoleCompleter(Completer):
    """Completion over the Console's completion API; live keys are looked up asynchronously."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        """Everything but live keys (those need the cluster, see get_completions_async)."""
        yield from self._offline(self.console.grammar.expects(document.text_before_cursor))

    async def get_completions_async(
        self, document: Document, complete_event: CompleteEvent
    ) -> AsyncGenerator[Completion, None]:
        """Commands, flags and names at once, then the cluster's keys for a key argument."""
        expected = self.console.grammar.expects(document.text_before_cursor)
        for completion in self._offline(expected):
            yield completion
        if expected.kind == "argument" and expected.arg is not None and expected.arg.kind == "key":
            for key in await self.console.key_completions(expected.word):
                yield Completion(_quoted(key), -len(expected.word), display=key)

    def _offline(self, expected: Expectation) -> Iterator[Completion]:
        grammar = self.console.grammar
        word = expected.word
        if expected.kind == "command":
            summaries = {spec.name: spec.summary for spec in grammar.specs()}
            yield from _matching(word, {verb: summaries.get(verb, "") for verb in grammar.verbs()})
        elif expected.kind == "subcommand":
            group = expected.group
            subs = grammar.subcommands(group)
            yield from _matching(
                word, {sub: grammar.spec(f"{group} {sub}").summary for sub in subs}
            )
        elif expected.kind == "flag" and expected.spec is not None:
            helps = {f"--{flag.name}": flag.help for flag in expected.spec.all_flags}
            flags = self.console.flags(expected.spec.name)
            yield from _matching(word, {flag: helps.get(flag, "") for flag in flags})
        elif expected.kind == "flag-value" and expected.flag is not None:
            typed_prefix, _, value = word.rpartition("=")
            lead = f"{typed_prefix}=" if typed_prefix else ""
            for choice in expected.flag.choices:
                if choice.lower().startswith(value.lower()):
                    yield Completion(lead + choice, -len(word))
        elif expected.kind == "argument" and expected.arg is not None:
            kind = expected.arg.kind
            if kind == "member":
                yield from _matching(word, dict.fromkeys(self.console.member_names(), ""))
            elif kind == "job":
                yield from _matching(
                    word, {str(job.id): job.command for job in self.console.jobs()}
                )
            elif kind == "command":
                yield from _matching(word, dict.fromkeys(self.console.commands(), ""))


def _quoted(word: str) -> str:
    """`word` as the parser reads it back: shell-quoted only if it needs quoting."""
    return word if _PLAIN_WORD.fullmatch(word) else shlex.quote(word)


def _matching(word: str, candidates: dict[str, str]) -> Iterator[Completion]:
    """Completions of `word` among `candidates` (each with its description, or "")."""
    for candidate, description in candidates.items():
        if candidate.startswith(word):
            yield Completion(candidate, -len(word), display_meta=description or None)


class CommandLexer(Lexer):
    """Colours a command line: verb, flags, quoted strings, numbers; an unknown verb in red.

    With `starts_with_command=False` (a txn's compare lines) only strings and numbers.
    """

    def __init__(self, grammar: Grammar, *, starts_with_command: bool = True) -> None:
        self.grammar = grammar
        self.starts_with_command = starts_with_command
        self._verbs = set(grammar.verbs())
        self._groups = {
            verb: set(grammar.subcommands(verb))
            for verb in self._verbs
            if verb not in {spec.name for spec in grammar.specs()}
        }

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        """Fragments for each line of the document."""
        lines = document.lines

        def line_fragments(number: int) -> StyleAndTextTuples:
            return self.fragments(lines[number]) if number < len(lines) else []

        return line_fragments

    def fragments(self, line: str) -> StyleAndTextTuples:
        """The (style, text) fragments of one line."""
        fragments: StyleAndTextTuples = []
        words: list[str] = []
        for match in _TOKEN.finditer(line):
            token = match.group()
            if token.isspace():
                fragments.append(("", token))
                continue
            fragments.append((self._style(token, words), token))
            words.append(token)
        return fragments

    def _style(self, token: str, before: list[str]) -> str:
        if self.starts_with_command and not before:
            return "class:command" if token in self._verbs else "class:unknown"
        if self.starts_with_command and len(before) == 1 and before[0] in self._groups:
            return "class:command" if token in self._groups[before[0]] else "class:unknown"
        if token.startswith("-") and len(token) > 1:
            return "class:flag"
        if token[0] in "\"'":
            return "class:string"
        if token.isdigit():
            return "class:number"
        return ""
