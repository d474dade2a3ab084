"""The ``cdig`` command line: ``cdig explain MODEL INPUT`` and ``cdig demo``.

``cdig explain`` loads a saved model and an input file, explains the model in one or more
domains, prints a summary, and writes a self-contained HTML report (``--out``) and the
numbers as JSON (``--json``). Every expected failure (a missing file, a model that cannot
be loaded or rejects the input, an unknown domain, bad options) ends with one line on
stderr and exit status 1 (2 for command-line syntax errors); ``--debug`` shows the traceback.

Models are loaded with :func:`cdig.models.load`: data-only formats (ONNX graphs, an
architecture named ``MODULE:FACTORY`` with ``--weights``, Keras files in safe mode) as they
are; formats that carry code (TorchScript, ``torch.export`` programs, pickles) only with
``--trust-model-file``, and ``.pt2`` programs vetted even then. ``--out`` and ``--json``
never overwrite the model, weights, input or baseline files, nor an existing file without
``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._checks import check_index_list
from ._inputs import check_model_output
from ._io import read_array, read_series
from ._settings import MAX_STEPS, RTOL, Settings
from ._text import first_line
from ._warnings import CompletenessWarning, ConvergenceWarning, sample_list

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

    parser = argparse.ArgumentParser(
        prog="cdig",
        description="Cross-domain Integrated Gradients: explain time-series models in the "
        "time, frequency, time-frequency, wavelet and decomposition domains.",
    )
    parser.add_argument("--version", action="version", version=f"cdig {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_explain(sub)
    _add_demo(sub)
    return parser


def _add_explain(sub: Any) -> None:
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
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help=".onnx file, MODULE:FACTORY (with --weights), .keras/.h5 file; with "
        "--trust-model-file also TorchScript, .pt2 or torch.save files",
    )
    p.add_argument(
        "--weights",
        metavar="PATH",
        help="weights for MODEL=MODULE:FACTORY: .safetensors, or a state dict saved with "
        "torch.save(model.state_dict(), PATH) (read with weights_only=True)",
    )
    p.add_argument(
        "--trust-model-file",
        action="store_true",
        help="MODEL is trusted: load TorchScript, .pt2 and torch.save files, which run code "
        "from the file with your permissions (not needed for ONNX, weights or Keras)",
    )
    p.add_argument(
        "input",
        metavar="INPUT",
        help=".npy, .npz (with --key) or .csv (rows = time, columns = channels) file",
    )
    p.add_argument(
        "--domain",
        action="append",
        metavar="NAME[:KEY=VALUE,...]",
        help="domain to explain in, with optional parameters, e.g. 'stft:n_fft=64,hop=16', "
        "'wavelet:wavelet=db4,level=4', 'seasonal_trend:period=52' (a list: period=24,168); "
        "repeat for several (default: time and fourier). A key may be shortened to a unique "
        "prefix; --fs sets fs. Domains and their parameters (defaults): "
        + _domain_parameters_help(),
    )
    p.add_argument("--fs", type=float, help="sampling rate in Hz (frequencies in Hz, times in s)")
    p.add_argument(
        "--channel-names",
        help="comma-separated channel names, one per channel in input order (e.g. "
        "AF3,F7,F3): in the summary, the JSON and the report instead of indices",
    )
    p.add_argument(
        "--target",
        help="output to explain: an index (a comma-separated tuple for multi-axis outputs) or "
        "'predicted'; omit for models with one output per sample",
    )
    p.add_argument(
        "--baseline",
        default="zero",
        help="path start: 'zero', 'mean' (each series' per-channel time mean), a number, or "
        "a .npy file broadcastable to the input",
    )
    p.add_argument(
        "--n-steps",
        default="auto",
        help="'auto' (default): adaptive, until the estimated error of the attributions and "
        "the completeness error are below --rtol; or a number of path points",
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=RTOL,
        help=f"relative tolerance (default {RTOL:g}); fixed --n-steps results above it are flagged",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=MAX_STEPS,
        help=f"evaluation budget per sample of --n-steps auto (default {MAX_STEPS})",
    )
    p.add_argument(
        "--method",
        default=None,
        help="integration rule of a numeric --n-steps (default gausslegendre): "
        + ", ".join(_methods()),
    )
    p.add_argument(
        "--batch-size", type=int, help="model evaluations per forward pass (internal_batch_size)"
    )
    p.add_argument(
        "--time-axis",
        type=int,
        default=-1,
        choices=(-1, 1, 2),
        help="axis of time in the model's input: -1 or 2 for (batch, channels, time), 1 for "
        "(batch, time, channels)",
    )
    p.add_argument("--key", help="array to use from an .npz file")
    p.add_argument(
        "--layout",
        choices=("time-channels", "channels-time"),
        default="time-channels",
        help="orientation of a .csv table: rows = time (default) or rows = channels",
    )
    p.add_argument(
        "--single",
        action="store_true",
        help="the .npy/.npz array is one series without a batch axis (add one)",
    )
    p.add_argument("--device", default="cpu", help="torch device for the model, e.g. cuda")
    p.add_argument("--out", metavar="HTML", help="write a self-contained HTML report here")
    p.add_argument(
        "--json",
        metavar="PATH",
        help="write the numbers (values, delta, outputs, coords, settings) as JSON here",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite existing --out/--json files (the model, input and baseline files are "
        "never overwritten)",
    )
    p.add_argument(
        "--sample",
        type=int,
        action="append",
        help="sample(s) of the batch shown in the report and summary (default: 0)",
    )
    p.add_argument("--top", type=int, default=5, help="coefficients listed per domain")
    p.add_argument("--unit", choices=("Hz", "bpm"), help="frequency unit of the figures")
    p.add_argument(
        "--mark",
        type=float,
        action="append",
        metavar="FREQ",
        help="mark a frequency in the figures (in --unit); repeatable",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    p.set_defaults(func=_explain)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the 1 Hz vs 4 Hz cosine experiment (no files needed)",
        formatter_class=_Formatter,
    )
    p.add_argument("--out", default="out/demo", help="folder for the figure and report")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite demo.png and report.html in --out even when an earlier demo did not "
        "write them (the demo's own files are always rewritten)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
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
    text = " ".join(str(err).split()) or type(err).__name__
    if not isinstance(err, (CLIError, ValueError, TypeError, OSError, ImportError)):
        text = f"{type(err).__name__}: {text}"
    limit = 700 if isinstance(err, CLIError) else 400  # ours are written to be read whole
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text + ("" if isinstance(err, CLIError) else " (rerun with --debug for details)")


# ---------------------------------------------------------------------- explain
# keyword arguments of cdig.explain -> the options that set them
_OPTIONS = {
    "target": "--target",
    "n_steps": "--n-steps",
    "internal_batch_size": "--batch-size",
    "method": "--method",
    "time_axis": "--time-axis",
    "fs": "--fs",
    "rtol": "--rtol",
    "max_steps": "--max-steps",
    "baselines": "--baseline",
}


def _option_words(text: str) -> str:
    """An error of the Python API in the command line's words: ``target=5`` -> ``--target 5``."""
    import re

    def option(m: re.Match[str]) -> str:
        name, value = _OPTIONS[m.group(1)], m.group(2)
        if value.startswith("'") and value.endswith("'") and len(value) > 1:
            value = value[1:-1]
        return f"{name} {value}" if value else name

    names = "|".join(_OPTIONS)
    text = re.sub(rf"(?<![\w.-])({names})=('[^']*'|[^\s,;)]*)", option, text)
    text = re.sub(r"(?<![\w.-])n_steps\b", "--n-steps", text)
    return re.sub(r"^baselines\b", "--baseline", text)


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _explain(args: argparse.Namespace) -> int:
    from .engine import CrossDomainIG

    _check_outputs(args)
    if args.out and not _has_matplotlib():  # before any work, not after it
        raise CLIError(
            "--out writes an HTML report with figures, which needs matplotlib: install it "
            "with `pip install cdig[plot]`, or leave out --out (--json writes the numbers)."
        )

    if args.top < 1:
        raise CLIError(
            f"--top {args.top} must be a positive integer (coefficients listed per domain)."
        )
    domains = _check_domains(args.domain or ["time", "fourier"], args.fs)
    target = _parse_target(args.target)
    integration = _settings(args)
    if args.unit == "bpm" and args.fs is None:
        raise CLIError("--unit bpm needs --fs (the sampling rate in Hz).")
    x = load_input(
        args.input, key=args.key, layout=args.layout, time_axis=args.time_axis, single=args.single
    )
    _check_domain_settings(domains, x.shape[1] if args.time_axis == 1 else x.shape[-1])
    baselines = _parse_baseline(args.baseline, x, args.time_axis)
    adapter = load_model(
        args.model, device=_device(args.device), trust=args.trust_model_file, weights=args.weights
    )
    outputs = _model_outputs(adapter, x, args.batch_size or 64)
    samples = _check_samples(args.sample or [0], x.shape[0])

    # one call: linear domains share one integration pass, as in the library
    ig = CrossDomainIG(adapter, dict(domains), time_axis=args.time_axis, fs=args.fs)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            res = ig.run(x, baselines, target, settings=integration)
        except (ValueError, TypeError) as err:  # the API's words -> the options' names
            raise type(err)(_option_words(str(err))) from err
    results = res if isinstance(res, dict) else {domains[0][0]: res}
    if args.channel_names:
        names = [n.strip() for n in args.channel_names.split(",")]
        try:
            results = {k: r.with_channel_names(names) for k, r in results.items()}
        except ValueError as err:
            raise CLIError(str(err).replace("channel_names", "--channel-names")) from err
    for w in seen:
        if not issubclass(w.category, DeprecationWarning):
            print(f"cdig: warning: {_phrase(w.message)}", file=sys.stderr)

    canonical = _canonical(x, args.time_axis)
    settings = {
        "model": args.model + (f" (weights {args.weights})" if args.weights else ""),
        "input": args.input + (f" [{args.key}]" if args.key else ""),
        "input shape": tuple(x.shape),
        "baseline": args.baseline,
        "target": "(single output)" if target is None else args.target,
        "fs (Hz)": args.fs if args.fs is not None else "-",
        "device": args.device,
        "internal_batch_size": args.batch_size if args.batch_size else "auto",
    }
    if not args.quiet:
        _print_summary(results, samples, args.top)
    if args.json:
        path = _write_json(args.json, results, outputs, settings, x)
        if not args.quiet:
            print(f"json: {path}")
    if args.out:
        from .report import write_report

        freq_kwargs = {k: v for k, v in (("unit", args.unit), ("mark", args.mark)) if v}
        path = write_report(
            args.out,
            results,
            canonical,
            samples=samples,
            settings=settings,
            model_outputs=outputs,
            top=args.top,
            plot_kwargs={"frequency": freq_kwargs},
            title=f"cdig: {Path(args.model).name} on {Path(args.input).name}",
        )
        if not args.quiet:
            print(f"report: {path}")
    return 0


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, outputs that would overwrite the inputs or an existing file."""
    protected = {"MODEL": args.model, "INPUT": args.input}
    if args.weights:
        protected["--weights"] = args.weights
    if str(args.baseline).lower().endswith(".npy"):
        protected["--baseline"] = args.baseline
    written: dict[str, str] = {}
    for option, value, example in (("--json", args.json, "results.json"),
                                   ("--out", args.out, "report.html")):  # fmt: skip
        if not value:
            continue
        path = Path(value)
        if path.is_dir():
            raise CLIError(
                f"{option} {value} is a folder; give the file to write, e.g. "
                f"{option} {path / example}."
            )
        for what, other in protected.items():
            if _same_file(path, Path(other)):
                raise CLIError(
                    f"{option} {value} is the {what} file {other}; cdig never overwrites its "
                    "inputs. Choose another output file."
                )
        for opt, other in written.items():
            if _same_file(path, Path(other)):
                raise CLIError(
                    f"{opt} {other} and {option} {value} name the same file; give two files."
                )
        if path.exists() and not args.force:
            raise CLIError(
                f"{option} {value} exists; pass --force to overwrite it, or choose a new file."
            )
        written[option] = value


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file (also through links, '..' or hard links)."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


# ---------------------------------------------------------------------- loading
# the readers' keyword names -> the options that set them
_READER_WORDS = (
    ("choose one with key=.", "choose one with --key."),
    ("with time_axis=1", "with --time-axis 1"),
    ("use single=True", "use --single"),
)


def _cli_error(err: Exception) -> CLIError:
    """A loader's or reader's error in the command line's words."""
    text = str(err)
    for api, option in _READER_WORDS:
        text = text.replace(api, option)
    text = re.sub(r"^key=", "--key ", text)
    return CLIError(text)


def load_model(
    path: str | os.PathLike[str],
    device: Any = "cpu",
    *,
    trust: bool = False,
    weights: str | os.PathLike[str] | None = None,
) -> Any:
    """:func:`cdig.models.load` for the command line: errors as :class:`CLIError`."""
    from .models import load

    try:
        return load(path, device, trust=trust, weights=weights, name="MODEL")
    except (FileNotFoundError, ValueError) as err:
        raise _cli_error(err) from err


def load_input(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    layout: str = "time-channels",
    time_axis: int = -1,
    single: bool = False,
) -> np.ndarray:
    """:func:`cdig._io.read_series` for the command line: errors as :class:`CLIError`."""
    try:
        return read_series(
            path, key=key, layout=layout, time_axis=time_axis, single=single, name="INPUT"
        )
    except (FileNotFoundError, ValueError) as err:
        raise _cli_error(err) from err


def _load_npy(p: Path, what: str) -> np.ndarray:
    try:
        return read_array(p, name=what)
    except (FileNotFoundError, ValueError) as err:
        raise _cli_error(err) from err


def _canonical(x: np.ndarray, time_axis: int) -> np.ndarray:
    """The model's layout -> (batch, channels, time), for the figures."""
    if x.ndim == 2:
        return x[:, None, :]
    return x.transpose(0, 2, 1) if time_axis == 1 else x


# ---------------------------------------------------------------------- options
def _available_domains() -> list[str]:
    from .domains import available_domains

    return list(available_domains())


def _methods() -> list[str]:
    from .quadrature import METHODS

    return list(METHODS)


# Domains and parameters that take Python objects (callables, a basis matrix, a fitted
# estimator, a dict): usable from Python only. fs comes from --fs.
_PYTHON_ONLY_DOMAINS = ("custom", "linear_basis")
_PYTHON_ONLY_PARAMETERS = ("fs", "ica", "stl_kwargs")


def _cli_domains() -> list[str]:
    return [d for d in _available_domains() if d not in _PYTHON_ONLY_DOMAINS]


def _domain_parameters(name: str) -> dict[str, Any]:
    """The keyword parameters of a registered domain's constructor, with their defaults."""
    import inspect

    from .domains import domain_class

    params = inspect.signature(domain_class(name)).parameters
    return {
        k: p.default
        for k, p in params.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in _PYTHON_ONLY_PARAMETERS
    }


def _domain_parameters_help() -> str:
    parts = []
    for name in _cli_domains():
        shown = [f"{k}={v!r}" for k, v in _domain_parameters(name).items()]
        parts.append(f"{name} ({', '.join(shown)})" if shown else name)
    return "; ".join(parts) + "."


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_domain(spec: str, fs: float | None = None) -> tuple[str, Any]:
    """A ``--domain`` value, ``NAME[:KEY=VALUE,...]``, as ``(name, unfitted Domain)``.

    Values are read as ``none``, ``true``/``false``, integers, numbers or text; a key may be
    a unique prefix of a parameter name (``hop`` for ``hop_length``); a piece without ``=``
    extends the previous value into a list (``period=24,168``). ``fs`` is passed to domains
    that take it, unless given in ``spec``.

    Raises
    ------
    CLIError
        For an unknown domain or parameter, or a value the domain refuses.
    """
    import inspect

    name, _, rest = spec.partition(":")
    key = name.strip().lower()
    if key in _PYTHON_ONLY_DOMAINS:
        raise CLIError(
            f"--domain {name}: this domain takes Python objects (callables or a basis matrix) "
            "and is available from Python only (cdig.domains)."
        )
    known = _cli_domains()
    if key not in known:
        raise CLIError(f"unknown domain {name!r} in --domain; use one of: {', '.join(known)}.")
    accepted = _domain_parameters(key)
    kwargs: dict[str, Any] = {}
    last: str | None = None
    for piece in filter(None, (p.strip() for p in rest.split(","))):
        if "=" not in piece:
            if last is None:
                raise CLIError(f"--domain {spec!r}: {piece!r} is not KEY=VALUE.")
            prev = kwargs[last]
            kwargs[last] = [*(prev if isinstance(prev, list) else [prev]), _parse_value(piece)]
            continue
        k, _, v = piece.partition("=")
        k = k.strip()
        match = [a for a in accepted if a == k] or [a for a in accepted if a.startswith(k)]
        if len(match) != 1:
            what = "is ambiguous" if match else "is not a parameter"
            raise CLIError(
                f"--domain {spec!r}: {k!r} {what} of {key}; its parameters: "
                f"{', '.join(accepted) or 'none'}."
            )
        last = match[0]
        kwargs[last] = _parse_value(v)
    from .domains import domain_class

    if fs is not None and "fs" in inspect.signature(domain_class(key)).parameters:
        kwargs["fs"] = fs

    try:
        domain = domain_class(key)(**kwargs)
    except (TypeError, ValueError) as err:
        raise CLIError(f"--domain {spec!r}: {err}") from None
    return key, domain


def _check_domain_settings(domains: list[tuple[str, Any]], n_times: int) -> None:
    """Each domain's parameters checked against the input's length, before any work."""
    for label, domain in domains:
        try:
            domain._check_params(n_times)
        except (TypeError, ValueError) as err:
            raise CLIError(f"--domain {label}: {err}") from None


def _check_domains(specs: list[str], fs: float | None = None) -> list[tuple[str, Any]]:
    """``(label, domain)`` per distinct ``--domain``; labels repeat a name only when needed."""
    parsed: list[tuple[str, str, Any]] = []
    for spec in specs:
        if spec.strip().lower() not in [s for s, _, _ in parsed]:
            name, domain = parse_domain(spec, fs)
            parsed.append((spec.strip().lower(), name, domain))
    names = [n for _, n, _ in parsed]
    out = []
    for spec, name, domain in parsed:
        label = name if names.count(name) == 1 else spec
        out.append((label, domain))
    return out


def _parse_target(text: str | None) -> Any:
    if text is None:
        return None
    if text == "predicted":
        return "predicted"
    try:
        parts = [int(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(
            f"--target {text!r} must be an integer, comma-separated integers, or 'predicted'."
        ) from None
    return parts[0] if len(parts) == 1 else tuple(parts)


def _phrase(message: Warning | str) -> str:
    """A warning in the command line's words (its options, not Python keywords)."""
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
                "from zeros); use another --baseline, not more steps."
            )
        if floor:
            parts.append(
                f"for samples {sample_list(floor)} --rtol {message.rtol:g} is below the "
                "rounding level of the model's precision (accurate to about "
                f"{message.floor_accuracy:.2g} in output units)."
            )
        return " ".join(parts) + (
            " The JSON output has 'converged', 'status' and 'error' per sample."
        )
    if isinstance(message, CompletenessWarning):
        return (
            f"completeness error above --rtol {message.rtol:g} with --n-steps "
            f"{message.n_steps} for samples {sample_list(message.samples)} "
            f"({', '.join(message.domains)}; largest relative delta {message.worst:.3g}); "
            "use --n-steps auto (the default) or more steps."
        )
    category = type(message).__name__ if isinstance(message, Warning) else "warning"
    return f"{category}: {_option_words(str(message))}"


def _parse_steps(text: str) -> int | Literal["auto"]:
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise CLIError(f"--n-steps {text!r} must be a positive integer or 'auto'.") from None


def _settings(args: argparse.Namespace) -> Settings:
    """The integration settings of the options, validated before anything is loaded."""
    try:
        return Settings(
            _parse_steps(args.n_steps),
            args.method,
            args.batch_size,
            args.rtol,
            0.0,
            args.max_steps,
            args.time_axis,
            progress=not args.quiet and _has_tqdm(),
        )
    except (ValueError, TypeError) as err:
        raise type(err)(_option_words(str(err))) from err


def _has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:  # pragma: no cover - tqdm is an optional extra
        return False
    return True


def _parse_baseline(text: str, x: np.ndarray, time_axis: int) -> Any:
    if text in ("zero", "zeros"):
        return None
    if text == "mean":
        axis = 1 if (x.ndim == 2 or time_axis == 1) else -1
        return np.broadcast_to(x.mean(axis=axis, keepdims=True), x.shape).copy()
    with contextlib.suppress(ValueError):
        value = float(text)
        if not math.isfinite(value):
            raise CLIError(f"--baseline {text} must be finite.")
        return value
    if not text.lower().endswith(".npy"):
        raise CLIError(
            f"--baseline {text!r} must be 'zero', 'mean', a number, or a path to a .npy file."
        )
    if not Path(text).is_file():
        raise CLIError(f"--baseline file not found: {text}")
    return _load_npy(Path(text), what="--baseline")


def _device(text: str) -> Any:
    import torch

    try:
        dev = torch.device(text)
    except RuntimeError as err:
        raise CLIError(f"--device {text!r} is not a torch device ({first_line(err)}).") from err
    if dev.type == "meta":
        raise CLIError(
            "--device meta holds shapes but no values, so there is nothing to explain; use "
            "--device cpu or a GPU (cuda)."
        )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(f"--device {text}: CUDA is not available on this machine.")
    return dev


def _check_samples(samples: list[int], batch: int) -> list[int]:
    bad = [s for s in samples if not 0 <= s < batch]
    if bad:
        raise CLIError(f"--sample {bad[0]} is out of range for a batch of {batch}.")
    return check_index_list(samples, "--sample", batch)


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


# ---------------------------------------------------------------------- output
def _print_summary(results: Mapping[str, Any], samples: list[int], top: int) -> None:
    from .report import describe_coefficient

    first = next(iter(results.values()))
    print(f"explained output: {first.target}; batch of {first.batch_size}")
    head_fb, head_diff = "f(x')", "f(x)-f(x')"
    print(
        f"{'domain':<12} {'sample':>6} {'f(x)':>11} {head_fb:>11} {head_diff:>12} {'delta':>10}"
        f" {'error':>8} {'evals':>6}"
    )
    for name, a in results.items():
        for s in samples:
            fx, fb = float(a.outputs[s]), float(a.baseline_outputs[s])
            err = "-" if np.isnan(a.error[s]) else f"{a.error[s]:.1e}"
            err += "" if a.converged[s] else "!"
            print(
                f"{name:<12} {s:>6} {fx:>11.5g} {fb:>11.5g} {fx - fb:>12.5g} {a.delta[s]:>10.2e}"
                f" {err:>8} {int(a.n_evaluations[s]):>6}"
            )
    if any(not a.converged[samples].all() for a in results.values()):
        print("! not converged within --max-steps (or above --rtol with a fixed --n-steps)")
    for s in samples:
        for name, a in results.items():
            rows = a.top(top, sample=s) if top > 0 else []
            items = "; ".join(f"{r['value']:+.3g} at {describe_coefficient(a, r)}" for r in rows)
            if items:
                print(f"top {name} (sample {s}): {items}")


def _write_json(
    path: str,
    results: Mapping[str, Any],
    outputs: np.ndarray,
    settings: dict[str, Any],
    x: np.ndarray,
) -> Path:
    from ._version import __version__
    from .attribution import jsonable

    doc = {
        "cdig_version": __version__,
        "settings": settings,
        "input_shape": list(x.shape),
        "model_outputs": outputs,
        "domains": {name: a.to_dict() for name, a in results.items()},  # Attribution.from_dict
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(jsonable(doc), allow_nan=False), encoding="utf-8")
    return out


# ---------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    try:
        from . import demo
    except ImportError as err:
        raise CLIError(f"this cdig has no demo ({err}).") from err
    from .attribution import Attribution

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(
            f"--out {args.out} is a file; the demo writes a folder (demo.png, report.html). "
            "Choose a folder."
        )
    names = ["demo.png"] + ([] if args.no_report else ["report.html"])
    # files an earlier demo wrote (same bytes as then) are the demo's own: it rewrites them,
    # so `cdig demo` (and `make demo`) can run twice in a row; any other file is kept
    made = _demo_manifest(out)
    existing = [n for n in names if (out / n).exists() and made.get(n) != _sha256(out / n)]
    if existing and not args.force:
        raise CLIError(
            f"--out {args.out} already holds {', '.join(existing)}, which an earlier "
            "`cdig demo` did not write (or which changed since); pass --force to overwrite, "
            "or choose another folder."
        )
    plot = _has_matplotlib()
    if not plot and not args.no_report:  # before any work, not after it
        raise CLIError(
            "the demo's figure and report need matplotlib: install it with "
            "`pip install cdig[plot]`, or pass --no-report for the table alone."
        )
    res = demo.run(args.out, quiet=args.quiet, **({} if plot else {"plot": False}))
    if not plot:
        print(
            "cdig: note: no figure (matplotlib is not installed; pip install cdig[plot])",
            file=sys.stderr,
        )
    attrs = {k: v for k, v in res.items() if isinstance(v, Attribution)}
    if args.no_report or not attrs:
        _write_demo_manifest(out, ["demo.png"] if plot else [])
        return 0
    from .report import write_report

    first = next(iter(attrs.values()))
    freqs = [float(f) for f in getattr(demo, "FREQUENCIES", ())]
    freq_kwargs: dict[str, Any] = {"mark": freqs, "xlim": (0.0, 2.0 * max(freqs))} if freqs else {}
    # the demo's series are long: show their first 10 s, as the demo's own figure does
    time_kwargs = {"xlim": (0.0, 10.0)} if getattr(demo, "DURATION", 0.0) > 10.0 else {}
    path = write_report(
        Path(args.out) / "report.html",
        attrs,
        res.get("x"),
        samples=range(first.batch_size),
        title="cdig demo: 1 Hz vs 4 Hz cosines",
        settings={"experiment": "demo (cdig.demo.run)"},
        plot_kwargs={"frequency": freq_kwargs, "time": time_kwargs},
    )
    _write_demo_manifest(out, ["demo.png", "report.html"])
    if not args.quiet:
        print(f"report: {path}")
    return 0


_DEMO_MANIFEST = ".cdig-demo.json"


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _demo_manifest(out: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the files an earlier ``cdig demo`` wrote in ``out``."""
    try:
        doc = json.loads((out / _DEMO_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {str(k): v for k, v in doc.items() if isinstance(v, str)}


def _write_demo_manifest(out: Path, names: Sequence[str]) -> None:
    written = {n: _sha256(out / n) for n in names if (out / n).is_file()}
    if not written:
        return
    made = _demo_manifest(out)
    made.update(written)
    (out / _DEMO_MANIFEST).write_text(json.dumps(made, indent=1), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
