"""The ``cdig`` command line: ``cdig explain MODEL INPUT`` and ``cdig demo`` (docs/cli.md).

Argument parsing and printing only: the library's errors name their parameters as parts
(:class:`cdig._text.Name`), which :func:`_spell` says as the options that spell the library's
keywords (``internal_batch_size=0`` -> ``--internal-batch-size 0``). Every expected failure
ends with one line on stderr and exit 1 (2 for syntax errors); ``--debug`` shows the traceback.
Code-carrying formats load only with ``--trust-model-file``; ``--report`` and ``--json`` never
overwrite the model, weights, input or baselines files, nor an existing file without ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._inputs import check_model_output
from ._io import canonical_layout, check_outputs, read_array, read_series
from ._settings import MAX_STEPS, RTOL, Settings
from ._text import BARE, KEYWORD, Name, first_line, in_words, python_words
from ._warnings import ConvergenceWarning, sample_list

__all__ = ["main", "build_parser", "load_model", "load_input"]


class CLIError(Exception):
    """An expected failure, reported as one line on stderr."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults in the help once: not the empty ones (None, False), and not where the
    help text already says its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return text
        if "default" in text.lower():
            return text
        return super()._get_help_string(action) or ""


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cdig`` command."""
    from ._version import __version__
    from .domains._spec import spec_help
    from .quadrature import METHODS

    parser = argparse.ArgumentParser(
        prog="cdig",
        description="Cross-domain Integrated Gradients: explain time-series models in the "
        "time, frequency, time-frequency, wavelet and decomposition domains.",
    )
    parser.add_argument("--version", action="version", version=f"cdig {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_explain(sub, spec_help(), METHODS)
    _add_demo(sub)
    return parser


def _add_explain(sub: Any, spec_help: str, methods: Sequence[str]) -> None:
    p = sub.add_parser(
        "explain",
        help="explain a saved model on an input file",
        description="Explain a saved model on the series in INPUT and report the attributions. "
        "Data-only model formats load as they are: ONNX graphs of standard operators (.onnx), "
        "your own architecture as MODULE:FACTORY with --weights (.safetensors, or a state dict "
        "read weights-only), Keras files (.keras, .h5; always safe_mode=True). Formats that "
        "carry code (TorchScript, torch.export programs .pt2, torch.save pickles) are "
        "programs: they load only with --trust-model-file (and .pt2 programs are still vetted: "
        "nothing pickled or compiled, no file-touching operators). Nothing is ever unpickled "
        "without it.",
        formatter_class=_Formatter,
        allow_abbrev=False,  # one spelling per option: no prefixes of it
    )
    add = p.add_argument
    # fmt: off
    add("model", metavar="MODEL", help=".onnx file, MODULE:FACTORY (with --weights), .keras/.h5 "
        "file; with --trust-model-file also TorchScript, .pt2 or torch.save files")
    add("--weights", metavar="PATH", help="weights for MODEL=MODULE:FACTORY: .safetensors, or a "
        "state dict saved with torch.save(model.state_dict(), PATH) (read with weights_only=True)")
    add("--trust-model-file", action="store_true", help="MODEL is trusted: load TorchScript, .pt2 "
        "and torch.save files, which run code from the file with your permissions (not needed "
        "for ONNX, weights or Keras)")
    add("input", metavar="INPUT",
        help=".npy, .npz (with --key) or .csv (rows = time, columns = channels) file")
    add("--domain", action="append", metavar="NAME[:KEY=VALUE,...]", help="domain to explain in, "
        "with optional parameters, e.g. 'stft:n_fft=64,hop=16', 'wavelet:wavelet=db4,level=4', "
        "'seasonal_trend:period=52' (a list: period=24,168); repeat for several (default: time, "
        "as in cdig.explain). A key may be shortened to a unique prefix; --fs sets fs. Domains "
        "and their parameters (defaults): " + spec_help)
    add("--fs", type=float, help="sampling rate in Hz (frequencies in Hz, times in s)")
    add("--channel-names", help="comma-separated channel names, one per channel in input order "
        "(e.g. AF3,F7,F3): in the summary, the JSON and the report instead of indices")
    add("--target", help="output to explain: an index (a comma-separated tuple for multi-axis "
        "outputs) or 'predicted'; omit for models with one output per sample")
    add("--baselines", default="zero", help="path start: 'zero', 'mean' (each series' per-channel "
        "time mean), a number, or a .npy file broadcastable to the input")
    add("--n-steps", default="auto", help="'auto' (default): adaptive, until the estimated error "
        "of the attributions and the completeness error are below --rtol; or a number of path "
        "points")
    add("--rtol", type=float, default=RTOL,
        help=f"relative tolerance (default {RTOL:g}); fixed --n-steps results above it are flagged")
    add("--atol", type=float, default=0.0, help="absolute tolerance in units of the model output "
        "(default 0): --n-steps auto stops at an error below rtol * |attributions| + atol and "
        "|delta| below rtol * |f(x) - f(x')| + atol")
    add("--max-steps", type=int, default=MAX_STEPS,
        help=f"evaluation budget per sample of --n-steps auto (default {MAX_STEPS})")
    add("--method", default=None, help="integration rule of a numeric --n-steps (default "
        "gausslegendre): " + ", ".join(methods))
    add("--internal-batch-size", type=int, help="model evaluations per forward pass")
    add("--time-axis", type=int, default=-1, choices=(-1, 1, 2), help="axis of time in the "
        "model's input: -1 or 2 for (batch, channels, time), 1 for (batch, time, channels)")
    add("--key", help="array to use from an .npz file")
    add("--layout", choices=("time-channels", "channels-time"), default="time-channels",
        help="orientation of a .csv table: rows = time (default) or rows = channels")
    add("--single", action="store_true",
        help="the .npy/.npz array is one series without a batch axis (add one)")
    add("--device", default="cpu", help="torch device for the model, e.g. cuda")
    add("--report", metavar="HTML", help="write a self-contained HTML report here")
    add("--json", metavar="PATH",
        help="write the numbers (values, delta, outputs, coords, settings) as JSON here")
    add("--force", action="store_true", help="overwrite existing --report/--json files (the "
        "model, input and baselines files are never overwritten)")
    add("--sample", type=int, action="append",
        help="sample(s) of the batch shown in the report and summary (default: 0)")
    add("--top", type=int, default=5, help="coefficients listed per domain")
    add("--unit", choices=("Hz", "bpm"), help="frequency unit of the figures")
    add("--mark", type=float, action="append", metavar="FREQ",
        help="mark a frequency in the figures (in --unit); repeatable")
    add("--progress", action=argparse.BooleanOptionalAction, help="progress bar of the model "
        "evaluations on stderr (needs tqdm; default: on, off with --quiet)")
    add("--quiet", action="store_true", help="print nothing: no summary, no paths, no progress "
        "bar unless --progress (warnings and errors still go to stderr)")
    add("--debug", action="store_true", help="show tracebacks of errors")
    # fmt: on
    p.set_defaults(func=_explain)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the 1 Hz vs 4 Hz cosine experiment (no files needed)",
        formatter_class=_Formatter,
        allow_abbrev=False,  # one spelling per option: no prefixes of it
    )
    add = p.add_argument
    # fmt: off
    add("--out", default="out/demo", help="folder for the figure and report")
    add("--no-report", action="store_true", help="skip the HTML report")
    add("--force", action="store_true", help="overwrite demo.png and report.html in --out even "
        "when an earlier demo did not write them (the demo's own files are always rewritten)")
    add("--quiet", action="store_true", help="print nothing")
    add("--debug", action="store_true", help="show tracebacks of errors")
    # fmt: on
    p.set_defaults(func=_demo)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cdig`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, usage errors
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("cdig: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug:
            raise
        print(f"cdig: error: {_one_line(err)}", file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    text = " ".join(in_words(err, _spell).split()) or type(err).__name__
    if not isinstance(err, (CLIError, ValueError, TypeError, OSError, ImportError)):
        text = f"{type(err).__name__}: {text}"
    limit = 700 if isinstance(err, CLIError) else 400  # ours are written to be read whole
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text + ("" if isinstance(err, CLIError) else " (rerun with --debug for details)")


#: The library's parameters the options set, each spelt as its keyword (errors name parameters).
_OPTIONS = {k: "--" + k.replace("_", "-") for k in (
    "target", "n_steps", "internal_batch_size", "method", "time_axis", "fs", "rtol", "atol",
    "max_steps", "baselines", "key", "single", "channel_names", "out", "force", "device",
)}  # fmt: skip


def _spell(part: Name) -> str:
    """A parameter the way the command line says it: ``target=5`` -> ``--target 5``."""
    option, value = _OPTIONS.get(part.name), part.value
    if option is None:
        return python_words(part)
    if value is BARE or value is KEYWORD or value is True:
        return option
    if value is None:
        return f"no {option}"
    if isinstance(value, (tuple, list)):
        return f"{option} {','.join(map(str, value))}"
    return f"{option} {shlex.quote(value) if isinstance(value, str) else value}"


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------------- explain
def _explain(args: argparse.Namespace) -> int:
    from .domains._spec import parse_specs
    from .engine import CrossDomainIG
    from .report import summary_text, write_json, write_report

    inputs = {"MODEL": args.model, "INPUT": args.input, "--weights": args.weights or ""}
    if str(args.baselines).lower().endswith(".npy"):
        inputs["--baselines"] = args.baselines
    files = {"--json": (args.json, "results.json"), "--report": (args.report, "report.html")}
    _cli_errors(check_outputs, files, {k: v for k, v in inputs.items() if v}, force=args.force)
    if args.report and not _has("matplotlib"):  # before any work, not after it
        raise CLIError(
            "--report writes an HTML report with figures, which needs matplotlib: install it "
            "with `pip install cdig[plot]`, or leave out --report (--json writes the numbers)."
        )
    if args.top < 1:
        raise CLIError(f"--top {args.top} must be a positive integer (coefficients per domain).")
    try:
        domains = parse_specs(args.domain or ["time"], args.fs)
    except ValueError as err:
        raise CLIError(f"--domain {err}") from None
    target = _parse_target(args.target)
    try:
        steps = args.n_steps if args.n_steps == "auto" else int(args.n_steps)
    except ValueError:
        raise CLIError(
            f"--n-steps {args.n_steps!r} must be a positive integer or 'auto'."
        ) from None
    progress = (not args.quiet and _has("tqdm")) if args.progress is None else args.progress
    integration = Settings(
        steps, args.method, args.internal_batch_size, args.rtol, args.atol, args.max_steps,
        args.time_axis, progress=progress,
    )  # fmt: skip
    if args.unit == "bpm" and args.fs is None:
        raise CLIError("--unit bpm needs --fs (the sampling rate in Hz).")
    x = load_input(
        args.input, key=args.key, layout=args.layout, time_axis=args.time_axis, single=args.single
    )
    for label, domain in domains:  # each domain's parameters against the input's length
        try:
            domain._check_params(x.shape[1] if args.time_axis == 1 else x.shape[-1])
        except (TypeError, ValueError) as err:
            raise CLIError(f"--domain {label}: {in_words(err, _spell)}") from None
    baselines = _parse_baselines(args.baselines, x, args.time_axis)
    adapter = load_model(
        args.model, device=args.device, trust=args.trust_model_file, weights=args.weights
    )
    outputs = _model_outputs(adapter, x, args.internal_batch_size or 64)
    bad = [s for s in args.sample or [0] if not 0 <= s < x.shape[0]]
    if bad:
        raise CLIError(f"--sample {bad[0]} is out of range for a batch of {x.shape[0]}.")
    samples = list(dict.fromkeys(args.sample or [0]))  # in range, each once

    # one call: linear domains share one integration pass, as in the library
    ig = CrossDomainIG(adapter, dict(domains), time_axis=args.time_axis, fs=args.fs)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        res = ig.run(x, baselines, target, settings=integration)
    results = res if isinstance(res, dict) else {domains[0][0]: res}
    if args.channel_names:
        names = [n.strip() for n in args.channel_names.split(",")]
        results = {k: _cli_errors(r.with_channel_names, names) for k, r in results.items()}
    for w in seen:
        if not issubclass(w.category, DeprecationWarning):
            print(f"cdig: warning: {_phrase(w.message)}", file=sys.stderr)

    settings = {
        "model": args.model + (f" (weights {args.weights})" if args.weights else ""),
        "input": args.input + (f" [{args.key}]" if args.key else ""),
        "input shape": tuple(x.shape),
        "baselines": args.baselines,
        "target": "(single output)" if target is None else args.target,
        "fs (Hz)": args.fs if args.fs is not None else "-",
        "device": args.device,
        "internal_batch_size": args.internal_batch_size or "auto",
    }
    if not args.quiet:
        print(summary_text(results, samples, args.top))
        if any(not np.asarray(a.converged)[samples].all() for a in results.values()):
            print("! not converged within --max-steps (or above --rtol with a fixed --n-steps)")
    if args.json:
        path = write_json(args.json, results, outputs, settings, x.shape)
        if not args.quiet:
            print(f"json: {path}")
    if args.report:
        freq_kwargs = {k: v for k, v in (("unit", args.unit), ("mark", args.mark)) if v}
        path = write_report(
            args.report, results, canonical_layout(x, args.time_axis), samples=samples,
            settings=settings, model_outputs=outputs, top=args.top,
            plot_kwargs={"frequency": freq_kwargs},
            title=f"cdig: {Path(args.model).name} on {Path(args.input).name}",
        )  # fmt: skip
        if not args.quiet:
            print(f"report: {path}")
    return 0


def _phrase(message: Warning | str) -> str:
    """A warning in the command line's words: its options, and where the JSON says more."""
    if isinstance(message, ConvergenceWarning):
        singular, floor = getattr(message, "singular", []), getattr(message, "floor", [])
        over = sorted(set(message.samples) - set(singular) - set(floor))
        parts = []
        if over:
            parts.append(
                f"the integral did not reach --rtol {message.rtol:g} within --max-steps "
                f"{message.max_steps} for samples {sample_list(over)} "
                f"({', '.join(message.domains)}; largest relative error {message.worst:.3g}); "
                "raise --max-steps or --rtol."
            )
        if singular:
            parts.append(
                f"the path of samples {sample_list(singular)} is singular at the baseline "
                "(the output jumps next to it: a model that normalises its input, explained "
                "from zeros); use other --baselines, not more steps."
            )
        if floor:
            parts.append(
                f"for samples {sample_list(floor)} --rtol {message.rtol:g} is below the "
                "rounding level of the model's precision or of its gradients' noise (accurate "
                f"to about {message.floor_accuracy:.2g} in output units); not more steps."
            )
        note = " The JSON output has 'converged', 'status' and 'error' per sample."
        return " ".join(parts) + note
    text = in_words(message, _spell)  # cdig's own warnings (with parts) need no category
    if hasattr(message, "parts"):
        return text
    return f"{type(message).__name__ if isinstance(message, Warning) else 'warning'}: {text}"


# ---------------------------------------------------------------------- values of options
def _parse_target(text: str | None) -> Any:
    if text is None or text == "predicted":
        return text
    try:
        parts = [int(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(
            f"--target {text!r} must be an integer, comma-separated integers, or 'predicted'."
        ) from None
    return parts[0] if len(parts) == 1 else tuple(parts)


def _parse_baselines(text: str, x: np.ndarray, time_axis: int) -> Any:
    if text in ("zero", "zeros"):
        return None
    if text == "mean":
        axis = 1 if (x.ndim == 2 or time_axis == 1) else -1
        return np.broadcast_to(x.mean(axis=axis, keepdims=True), x.shape).copy()
    with contextlib.suppress(ValueError):
        value = float(text)
        if not math.isfinite(value):
            raise CLIError(f"--baselines {text} must be finite.")
        return value
    if not text.lower().endswith(".npy"):
        raise CLIError(
            f"--baselines {text!r} must be 'zero', 'mean', a number, or a path to a .npy file."
        )
    return _cli_errors(read_array, text, name="--baselines")  # "--baselines file not found: ..."


def _model_outputs(adapter: Any, x: np.ndarray, chunk: int) -> np.ndarray:
    """All model outputs for ``x`` (also a check that the model accepts the input)."""
    import torch

    from ._evaluate import evaluate

    dtype = adapter.dtype or (torch.float64 if x.dtype == np.float64 else torch.float32)
    xt = torch.as_tensor(np.ascontiguousarray(x)).to(dtype=dtype, device=adapter.device)
    try:
        with adapter.inference():
            out = evaluate(adapter, xt, chunk)
    except Exception as err:  # the model's own error, whatever its type
        raise CLIError(
            f"the model rejected the input of shape {tuple(x.shape)}: {first_line(err)}. "
            "Check --time-axis, --layout, --single and the model's expected input shape."
        ) from err
    check_model_output(out)
    return out.cpu().double().numpy()


# ---------------------------------------------------------------------- loading
def _cli_errors(read: Any, *args: Any, **kwargs: Any) -> Any:
    """``read(*args, **kwargs)``, its FileNotFoundError or ValueError as a :class:`CLIError`."""
    try:
        return read(*args, **kwargs)
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(in_words(err, _spell)) from err


def load_model(
    path: str | Path, device: Any = "cpu", *, trust: bool = False, weights: Any = None
) -> Any:
    """:func:`cdig.models.load` for the command line: errors as :class:`CLIError`."""
    from .models import load

    return _cli_errors(load, path, device, trust=trust, weights=weights, name="MODEL")


def load_input(path: str | Path, **kwargs: Any) -> np.ndarray:
    """:func:`cdig._io.read_series` (``key``, ``layout``, ``time_axis``, ``single``) for the
    command line: errors as :class:`CLIError`."""
    return _cli_errors(read_series, path, name="INPUT", **kwargs)


# ---------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    try:
        from . import demo
    except ImportError as err:
        raise CLIError(f"this cdig has no demo ({err}).") from err
    plot = _has("matplotlib")
    if not plot and not args.no_report:  # before any work, not after it
        raise CLIError(
            "the demo's figure and report need matplotlib: install it with "
            "`pip install cdig[plot]`, or pass --no-report for the table alone."
        )
    demo.write(args.out, report=not args.no_report, force=args.force, quiet=args.quiet, plot=plot)
    if not plot:
        note = "no figure (matplotlib is not installed; pip install cdig[plot])"
        print(f"cdig: note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
