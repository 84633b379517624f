"""What the terminal shows while a run goes on, in one of three modes decided once.

* live: stdout is a terminal (Rich's own detection; not ``TERM=dumb``) and colour is
  allowed. Notable events scroll as lines, and the live board
  (:mod:`chaos.report.live_board`) is a footer redrawn 4 times a second; probe samples
  and SLI points go to the board's sparklines, not to lines (``--verbose`` prints
  them too). The board goes away when the verdict arrives, before it is printed.
* plain: not a terminal, ``TERM=dumb``, ``--no-color`` or ``$NO_COLOR``. The same
  lines and verdict as ever, and not one escape sequence (CI logs, pipes, files).
* quiet: ``--quiet``. Only the outcome line and its reasons; an apply or revert
  failure, a lost lease or a run error still prints, to stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from types import TracebackType

from rich.console import Console
from rich.live import Live

from chaos.controller.events import Event, EventKind
from chaos.report.live_board import RunBoard
from chaos.report.terminal import live_view, verdict_outcome
from chaos.spec.models import Experiment

REFRESH_PER_SECOND = 4
_SERIES = frozenset({EventKind.SAMPLE, EventKind.SLI_POINT, EventKind.LOAD_WINDOW})
_ALARMS = frozenset(
    {
        EventKind.FAULT_APPLY_FAILED,
        EventKind.FAULT_REVERT_FAILED,
        EventKind.LEASE_LOST,
        EventKind.ERROR,
    }
)


class OutputMode(StrEnum):
    LIVE = "live"
    PLAIN = "plain"
    QUIET = "quiet"


def terminal_console(*, no_color: bool = False, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that colours only a terminal, and only without
    ``--no-color`` or ``$NO_COLOR``; otherwise it writes no escape sequence at all
    (Rich's own ``NO_COLOR`` handling still writes bold and the like)."""
    console = Console(stderr=stderr)
    if no_color or console.no_color:
        return Console(stderr=stderr, color_system=None)
    return console


def output_mode(console: Console, *, quiet: bool) -> OutputMode:
    if quiet:
        return OutputMode.QUIET
    # a dumb terminal, or a console made colourless, has no colour system
    live = console.is_terminal and console.color_system is not None
    return OutputMode.LIVE if live else OutputMode.PLAIN


class RunProgress:
    """The terminal's subscriber to a run's events, and the live board's lifetime
    (``with progress:`` around the run, or :meth:`start` and :meth:`stop`)."""

    def __init__(
        self,
        console: Console,
        *,
        mode: OutputMode,
        board: RunBoard | None = None,
        verbose: bool = False,
        alarms: Console | None = None,
    ) -> None:
        self.console, self.mode = console, mode
        self._board = board if mode is OutputMode.LIVE else None
        self._verbose = verbose
        self._lines = live_view(console, verbose=verbose)
        self._alarm_lines = live_view(alarms or console)
        self._live: Live | None = None

    @classmethod
    def for_run(
        cls, experiment: Experiment, *, quiet: bool, no_color: bool, verbose: bool
    ) -> RunProgress:
        """``chaos run``'s: stdout decides the mode; quiet alarms go to stderr."""
        console = terminal_console(no_color=no_color)
        return cls(
            console,
            mode=output_mode(console, quiet=quiet),
            board=RunBoard.for_experiment(experiment),
            verbose=verbose,
            alarms=terminal_console(no_color=no_color, stderr=True),
        )

    def subscriber(self) -> Callable[[Event], None]:
        shows: dict[OutputMode, Callable[[Event], None]] = {
            OutputMode.LIVE: self._show_live,
            OutputMode.PLAIN: self._lines,
            OutputMode.QUIET: self._show_quiet,
        }
        show = shows[self.mode]

        def terminal(event: Event) -> None:
            show(event)

        return terminal

    def _show_live(self, event: Event) -> None:
        assert self._board is not None
        self._board.feed(event)
        if event.kind is EventKind.VERDICT:
            self.stop()  # the board goes before the verdict is printed
        if event.kind not in _SERIES or self._verbose:
            self._lines(event)  # notable events scroll above the board

    def _show_quiet(self, event: Event) -> None:
        if event.kind in _ALARMS:
            self._alarm_lines(event)
        elif event.kind is EventKind.VERDICT:
            self.console.print(verdict_outcome(event.data))

    def start(self) -> None:
        if self._board is None or self._live is not None:
            return
        self._live = Live(
            console=self.console,
            get_renderable=self._board.render,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,
        )
        self._live.start()

    def stop(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    def __enter__(self) -> RunProgress:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
