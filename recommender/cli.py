"""The ``carbonplan`` command line: parse -> call the core -> render -> exit code.

Only this module prints errors or chooses exit codes; everything below it raises.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from recommender import __version__
from recommender import assumptions as A
from recommender.cliopts import (
    CalibrateOpt,
    EmbodiedOpt,
    Format,
    FormatOpt,
    GpuOpt,
    IntensityBasisOpt,
    NoEmbodiedOpt,
    PilotStepsOpt,
    PlanArgs,
    ProviderOpt,
    SizingArgs,
    SkypilotTaskOpt,
    SuggestFormat,
    SuggestFormatOpt,
    TotalStepsOpt,
    UtilisationOpt,
    console,
    emit,
    given_on_command_line,
    plan_options,
    plan_request,
    sizing_options,
    sizing_request,
    split_values,
    warn,
)
from recommender.errors import BadInputError, CarbonplanError, ExitCode, Interrupted


class RegionSort(StrEnum):
    intensity = "intensity"
    region = "region"
    pue = "pue"


@plan_options
def suggest(
    plan_args: PlanArgs,
    top: Annotated[int, typer.Option("--top", help="How many options to show (0 = all).")] = 20,
    all_sizes: Annotated[
        bool,
        typer.Option(
            "--all-sizes",
            help="Show every instance size; by default each (region, GPU, market) shows its "
            "best size for the objective.",
        ),
    ] = False,
    output: SuggestFormatOpt = SuggestFormat.table,
    skypilot_task: SkypilotTaskOpt = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show every assumption, constraint and source.")
    ] = False,
    plot: Annotated[
        bool,
        typer.Option("--plot", help="Also draw every option's cost vs kg CO2e in the terminal."),
    ] = False,
    markets: Annotated[
        str,
        typer.Option(
            "--markets",
            click_type=click.Choice(["combined", "split"]),
            help="Table rows: 'combined' gives one row per instance and region with its spot "
            "and on-demand cost side by side, at the rank of the market the objective "
            "prefers; 'split' one row per market. JSON and CSV always have one per market.",
        ),
    ] = "combined",
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="Print every table column at full width, even past the terminal's edge "
            "(by default columns that do not fit are left out, and the table says which).",
        ),
    ] = False,
    jobs: Annotated[
        Path | None,
        typer.Option(
            "--jobs",
            help="Plan every job of a CSV or YAML file in one run: one job a row, columns "
            "named like these flags (name, gpu_hours or params+tokens, gpu, deadline, "
            "max_cost, market, ...); blank cells take the flags' values. Prints each job's "
            "top --top options [default with --jobs: 3] and the totals of the best choices.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Rank (cloud, region, instance, market) options for a job by carbon, cost or time."""
    from recommender import api
    from recommender.reports.records import option_records
    from recommender.reports.views import render_plan

    if jobs is not None:
        from recommender.commands.suggest_jobs import suggest_jobs

        suggest_jobs(plan_args, jobs, output.value, top)
        return
    if top < 0:
        raise BadInputError(f"--top must be >= 0, got {top}")
    if output is SuggestFormat.skypilot or skypilot_task is not None:
        from recommender.commands.suggest_skypilot import suggest_skypilot

        suggest_skypilot(plan_args, output, skypilot_task, top, all_sizes)
        return
    fmt = Format(output.value)
    if plot and fmt is not Format.table:
        raise BadInputError(
            "--plot draws in the terminal; it cannot be combined with --format json/csv",
            "drop --plot, or use 'carbonplan report' for chart files",
        )
    for flag, name in (("--wide", "wide"), ("--markets", "markets")):
        if fmt is not Format.table and given_on_command_line(name):
            raise BadInputError(
                f"{flag} shapes the table; --format {fmt.value} always has every field and "
                "one object per market",
                f"drop {flag}",
            )
    # the table takes every option: a combined row shows the other market's price past --top
    plan = api.plan_request(
        plan_request(plan_args),
        top=0 if fmt is Format.table else top,
        all_sizes=all_sizes,
        warn=warn,
    )
    if fmt is Format.table:
        result, chart = plan.result, None
        if plot:
            from recommender.reports.terminal import split_for_plot

            result, chart = split_for_plot(result, 0)
        render_plan(
            result, plan.request.catalog, console(), explain, top=top, markets=markets, wide=wide
        )
        if chart is not None:
            console().print(chart)
        if plan.request.calibration is not None:
            for line in plan.request.calibration.lines():
                console().print(line)
        return  # stale prices are among the table's warnings
    _warn_stale_prices(plan.result.options)
    emit(fmt, plan.to_dict(), option_records(plan.result.options))


def _warn_stale_prices(options: Any) -> None:
    from recommender.commands.suggest_skypilot import warn_stale_prices

    warn_stale_prices(options)


@sizing_options
def estimate(
    sizing_args: SizingArgs,
    gpu: Annotated[str, typer.Option("--gpu", help="GPU model (aliases accepted).")],
    hours: Annotated[
        float | None,
        typer.Option(
            "--hours", help="Wall-clock hours the GPUs run (or derive them with --params)."
        ),
    ] = None,
    count: Annotated[float, typer.Option("--count", help="Number of GPUs.")] = 1,
    region: Annotated[
        str | None,
        typer.Option("--region", help="PROVIDER:REGION whose grid intensity and PUE to use."),
    ] = None,
    intensity: Annotated[
        float | None,
        typer.Option("--intensity", help="Grid intensity in gCO2e/kWh (overrides --region's)."),
    ] = None,
    gpu_power_w: Annotated[
        float | None,
        typer.Option("--gpu-power-w", help="Average W per GPU [default: TDP x --utilisation]."),
    ] = None,
    host_power_w: Annotated[
        float | None,
        typer.Option(
            "--host-power-w",
            help="Average W for everything but the GPUs (CPUs, "
            "memory, ...) [default: median cloud host per GPU x --count].",
        ),
    ] = None,
    power_w: Annotated[
        float | None,
        typer.Option(
            "--power-w",
            help="Total average IT power of the job in W; replaces all power modelling.",
        ),
    ] = None,
    pue: Annotated[
        float | None,
        typer.Option("--pue", help="Power usage effectiveness [default: the region's, else 1.0]."),
    ] = None,
    utilisation: UtilisationOpt = A.GPU_UTILISATION.value,
    embodied: EmbodiedOpt = A.EMBODIED_G_PER_GPU_HOUR.value,
    no_embodied: NoEmbodiedOpt = False,
    intensity_basis: IntensityBasisOpt = "grid",
    calibrate: CalibrateOpt = None,
    pilot_steps: PilotStepsOpt = None,
    total_steps: TotalStepsOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Energy and CO2e of one job: GPU x count x hours x grid intensity (+ host, PUE, embodied)."""
    from recommender import api
    from recommender.reports.views import estimate_document, render_estimate

    names = ("gpu_power_w", "host_power_w", "utilisation", "embodied")
    result = api.estimate(
        gpu,
        hours=hours,
        count=count,
        region=region,
        intensity=intensity,
        gpu_power_w=gpu_power_w,
        host_power_w=host_power_w,
        power_w=power_w,
        pue=pue,
        utilisation=utilisation,
        embodied=embodied,
        no_embodied=no_embodied,
        intensity_basis=intensity_basis,
        sizing=sizing_request(sizing_args),
        calibrate=calibrate,
        pilot_steps=pilot_steps,
        total_steps=total_steps,
        given=frozenset(n for n in names if given_on_command_line(n)),
    ).result
    if fmt is Format.table:
        render_estimate(result, console())
        return
    document = estimate_document(result)
    flat = {k: v for k, v in document.items() if not isinstance(v, dict)}
    emit(fmt, document, [flat])


def _with_region_gpus(catalog: Any) -> Any:
    offers = catalog.offers
    gpus_by_region = (
        offers.groupby(["provider", "region"])["gpu"]
        .agg(lambda s: sorted(set(s)))
        .rename("gpus")
        .reset_index()
    )
    # Regions whose catalog rows were all excluded (see data/offers_excluded.csv) have no GPUs.
    return catalog.regions.merge(gpus_by_region, on=["provider", "region"], how="inner")


def regions(
    provider: ProviderOpt = None,
    gpu: GpuOpt = None,
    sort: Annotated[
        RegionSort, typer.Option("--sort", help="intensity (cleanest first), region or pue.")
    ] = RegionSort.intensity,
    intensity_basis: IntensityBasisOpt = "grid",
    fmt: FormatOpt = Format.table,
) -> None:
    """List cloud regions with GPU offers: location, grid intensity (with its year, basis and
    range), PUE, GPUs offered."""
    from recommender.catalog import load_catalog, resolve_gpu, resolve_provider
    from recommender.catalog.bases import check_basis
    from recommender.reports.views import region_records, render_regions

    catalog = load_catalog().with_basis(check_basis(intensity_basis))
    frame = _with_region_gpus(catalog)
    providers = [resolve_provider(p) for p in split_values(provider)]
    if providers:
        frame = frame[frame["provider"].isin(providers)]
    wanted = [resolve_gpu(g, catalog.gpus) for g in split_values(gpu)]
    if wanted:
        frame = frame[frame["gpus"].map(lambda gs: any(g in gs for g in wanted))]
    keys = {
        "intensity": ["gco2_per_kwh", "provider", "region"],
        "region": ["provider", "region"],
        "pue": ["pue", "provider", "region"],
    }[sort.value]
    frame = frame.sort_values(keys, kind="mergesort")
    if frame.empty:
        raise BadInputError("no region matches the filters", "drop --gpu or --provider")
    if fmt is Format.table:
        render_regions(frame, console())
        return
    records = region_records(frame)
    if fmt is Format.csv:
        for record in records:
            record["gpus"] = ";".join(record["gpus"])
    emit(fmt, records, records)


def gpus(
    provider: ProviderOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List GPU models: TDP, memory, BF16 TFLOPS, relative training throughput and evidence."""
    from recommender.catalog import load_catalog, resolve_provider
    from recommender.reports.views import gpu_records, render_gpus

    catalog = load_catalog()
    by_gpu = catalog.offers.groupby("gpu")["provider"].agg(lambda s: sorted(set(s)))
    frame = catalog.gpus.assign(providers=catalog.gpus["gpu"].map(lambda g: by_gpu.get(g, [])))
    providers = [resolve_provider(p) for p in split_values(provider)]
    if providers:
        frame = frame[frame["providers"].map(lambda ps: any(p in ps for p in providers))]
    frame = frame.sort_values(["rel_throughput", "gpu"], ascending=[False, True], kind="mergesort")
    if fmt is Format.table:
        render_gpus(frame, console())
        return
    records = gpu_records(frame)
    if fmt is Format.csv:
        for record in records:
            record["providers"] = ";".join(record["providers"])
    emit(fmt, records, records)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"carbonplan {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show tracebacks for errors (never shows secrets); accepted anywhere on the "
            "command line.",
        ),
    ] = False,
) -> None:
    if debug:
        os.environ["CARBONPLAN_DEBUG"] = "1"


# Every command, in the order --help lists them: (module, function). Only the command being
# run is imported and built, so adding commands does not slow down `carbonplan suggest`.
COMMANDS: dict[str, tuple[str, str]] = {
    "suggest": ("recommender.cli", "suggest"),
    "estimate": ("recommender.cli", "estimate"),
    "size": ("recommender.commands.size", "size"),
    "report": ("recommender.commands.report", "report"),
    "regions": ("recommender.cli", "regions"),
    "gpus": ("recommender.cli", "gpus"),
    "intensity": ("recommender.commands.intensity", "intensity"),
    "launch": ("recommender.commands.launch", "launch"),
    "instances": ("recommender.commands.launch", "instances"),
    "down": ("recommender.commands.launch", "down"),
    "replay": ("recommender.commands.replay", "replay"),
    "config": ("recommender.commands.config", "config"),
    "cache": ("recommender.commands.cache", "cache"),
    "data": ("recommender.commands.data", "data"),
    "track": ("recommender.commands.track", "track"),
    "compare": ("recommender.commands.compare", "compare"),
}


def build_app(only: str | None = None) -> typer.Typer:
    """The typer app with every command, or with just ``only`` (start-up cost grows with the
    number of options typer has to build, and each command module has imports of its own)."""
    import importlib

    application = typer.Typer(
        name="carbonplan",
        help="Plan GPU training jobs across AWS, GCP and Azure for the least CO2e within your "
        "budget and deadline. Offline by default, on the shipped data.",
        # --install-completion and --show-completion [SHELL]: listed by typer, run by main()
        # (which lets the shell be named); the _CARBONPLAN_COMPLETE protocol is typer's.
        add_completion=True,
        no_args_is_help=True,
        pretty_exceptions_enable=False,  # never print locals (they may hold tokens)
        rich_markup_mode=None,
    )
    application.callback()(_root)
    for name, (module, function) in COMMANDS.items():
        if only is None or name == only:
            application.command(name)(getattr(importlib.import_module(module), function))
    return application


def _command_name(args: list[str]) -> str | None:
    """The sub-command on the command line, if it is one of ours (global options come first;
    none of them takes a value, except the shell after a completion option)."""
    after_completion = False
    for arg in args:
        if arg == "--":
            return None
        if not arg.startswith("-") and not after_completion:
            return arg if arg in COMMANDS else None
        after_completion = arg in _COMPLETION_OPTIONS
    return None


def __getattr__(name: str) -> Any:
    """``recommender.cli.app``: the full app, built on first use (docs and tests read it)."""
    if name == "app":
        return build_app()
    raise AttributeError(name)


def _fail(message: str, hint: str, code: int) -> int:
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    err.print(f"error: {message}", markup=False)
    if hint:
        err.print(f"hint: {hint}", markup=False)
    return code


_COMPLETION_OPTIONS = ("--install-completion", "--show-completion")
_COMPLETE_VAR = "_CARBONPLAN_COMPLETE"  # the shell scripts call carbonplan with it set


def _completion(option: str, shell: str | None) -> None:
    """``--show-completion [SHELL]`` prints the completion script, ``--install-completion
    [SHELL]`` installs it (typer's scripts and places); SHELL defaults to the current shell."""
    from typer._completion_shared import Shells, _get_shell_name, get_completion_script, install

    shells = [s.value for s in Shells]
    shell = shell or _get_shell_name()
    if shell is None:
        raise BadInputError(
            "cannot tell which shell this is", f"name it: carbonplan {option} bash (or zsh, fish)"
        )
    if shell not in shells:
        raise BadInputError(f"no completion for shell {shell!r}", f"use {', '.join(shells)}")
    if option == "--show-completion":
        typer.echo(
            get_completion_script(prog_name="carbonplan", complete_var=_COMPLETE_VAR, shell=shell)
        )
        return
    shell, path = install(shell=shell, prog_name="carbonplan", complete_var=_COMPLETE_VAR)
    typer.echo(f"{shell} completion installed in {path}")
    typer.echo("it takes effect in new shells (or source that file)")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every failure into one error line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    # --debug is global, but accepted anywhere before a "--": it is moved in front
    end = args.index("--") if "--" in args else len(args)
    debug = os.environ.get("CARBONPLAN_DEBUG") == "1" or "--debug" in args[:end]
    if "--debug" in args[:end]:
        args = ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]
    _RECEIVED.clear()
    restore = _install_signal_handlers()
    try:
        name = _command_name(args)
        option = next((a for a in args if a in _COMPLETION_OPTIONS), None)
        if name is None and option is not None and "--help" not in args:
            rest = args[args.index(option) + 1 :]
            _completion(option, rest[0] if rest and not rest[0].startswith("-") else None)
            return int(ExitCode.OK)
        code = build_app(name)(args=args, prog_name="carbonplan", standalone_mode=False)
        if _RECEIVED:  # the Interrupted raised for it was swallowed on the way
            raise Interrupted(_RECEIVED[0])
        if code == ExitCode.INTERRUPTED:  # typer turns a KeyboardInterrupt into a returned 130
            return _fail("interrupted", "", int(ExitCode.INTERRUPTED))
        if isinstance(code, int) and not isinstance(code, bool) and code:
            return code  # a command's typer.Exit(N): `track` passes its command's status on
    except Interrupted as exc:
        return _fail(f"interrupted ({exc.signal_name})", "", int(exc.exit_code))
    except CarbonplanError as exc:
        if debug:
            raise
        return _fail(exc.message, exc.hint, int(exc.exit_code))
    except click.exceptions.NoArgsIsHelpError:
        return int(ExitCode.OK)
    except click.exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "carbonplan"
        return _fail(exc.format_message(), f"see '{command} --help'", int(ExitCode.BAD_INPUT))
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return _fail("interrupted", "", int(ExitCode.INTERRUPTED))
    except KeyboardInterrupt:
        return _fail("interrupted", "", int(ExitCode.INTERRUPTED))
    except BrokenPipeError:
        return int(ExitCode.OK)
    except Exception as exc:  # a bug: say so plainly, without a traceback or locals
        if debug:
            raise
        from recommender.extras import MissingExtraError, extra_of

        module = exc.name if isinstance(exc, ImportError) else None
        extra = extra_of(module)
        if extra is not None:  # an optional package that is installed but does not import
            missing = MissingExtraError(extra, str(module))
            return _fail(missing.message, missing.hint, int(missing.exit_code))
        return _fail(
            f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            "rerun with --debug for a traceback and report it",
            1,
        )
    finally:
        restore()
    return int(ExitCode.OK)


# Signals the handler below received in this run. The exception it raises lands wherever the
# main thread is, and some places swallow every exception (a weakref callback during an import,
# a library's bare ``except:``): main() checks this list when the command seems to have ended
# well, so an interrupt is never reported as a success.
_RECEIVED: list[int] = []


def _install_signal_handlers() -> Any:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread (exit 130 / 143 after
    whatever cleanup the command does); returns what puts the previous handlers back. A signal
    the caller ignores (``nohup``, a background job of a script) stays ignored."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def raise_interrupted(signum: int, frame: object) -> None:
        _RECEIVED.append(signum)
        raise Interrupted(signum)

    # An Interrupted raised where Python cannot pass it on (a weakref callback, a __del__) is
    # "unraisable": Python would print it with a traceback and go on. Not printed: _RECEIVED
    # has it, and main() reports it as the one interrupt line.
    hook = sys.unraisablehook

    def quiet_interrupts(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, Interrupted):
            hook(unraisable)

    sys.unraisablehook = quiet_interrupts
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if handler is signal.SIG_IGN or handler is None:  # None: set outside Python, left as is
            continue
        previous[signum] = handler
        signal.signal(signum, raise_interrupted)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook

    return restore
