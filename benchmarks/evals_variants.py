"""The steps rows with settings of ``cdig._adaptive`` changed (h22-evals, stop 32).

The variants of ``benchmarks/README.md`` section 4, "Fewer evaluations (h22-evals, stop
32)": module settings of the estimate and the refinement (``GAP_SCALE=0``: as before it,
``GAP_COS=0 GAP_SUM=0``: every half scaled to its gap, ``REFINE_AIM=0.7``,
``ESTIMATE_SAFETY=1.0``, ...). Series ``LO`` to ``N`` of every steps row (the first 20 are
``steps.py``'s; 16384-node references cached as it caches them), the default call at
``rtol=0.01``; per row: evaluations, estimate >= true error, the smallest and median
ratio, the worst vector error, series not converged, lucky stops (converged, true vector
error above 2 %), and whether every converged series meets the tolerance as reported.

Run: ``PYTHONPATH=src python benchmarks/evals_variants.py N LO [NAME=VALUE ...]``, e.g.
``... 60 20 GAP_SCALE=0`` (40 further series, without the gap scaling). ``ROWS="a,b"``
restricts the rows by name; ``RTOL=0.0025`` sets the tolerance (default 0.01; "above
rtol": converged series whose true vector error exceeds it).
"""

import dataclasses
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import steps

import cdig
from cdig import _adaptive as ad

ROWS = ["ECG200 CNN", "ResNet", "hard attention", "steep", "SIREN", "GunPoint CNN",
        "ECG200 transformer", "GunPoint LSTM", "FordA CNN"]  # fmt: skip


def main() -> None:
    torch.set_num_threads(1)
    n, lo = int(sys.argv[1]), int(sys.argv[2])
    for kv in sys.argv[3:]:
        k, v = kv.split("=")
        setattr(ad, k, float(v))
    rows = os.environ["ROWS"].split(",") if os.environ.get("ROWS") else ROWS
    rtol = float(os.environ.get("RTOL", "0.01"))
    evals = []
    for row in steps.corpus(n, False, lambda name: any(k in name for k in rows)):
        row = dataclasses.replace(row, x=row.x[lo:n])
        ref = steps.reference(row, row.domain)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = cdig.explain(
                row.model,
                row.x,
                row.domain,
                target=row.target,
                time_axis=row.time_axis,
                **({} if rtol == 0.01 else {"rtol": rtol}),
            )
        err = steps.rel_error(a.values, ref)
        conv = a.converged
        ratio = a.error / err
        exact = bool(np.all((a.error[conv] <= rtol) & (a.relative_delta[conv] <= rtol)))
        print(
            f"{row.name[:30]:30s} evals {a.n_evaluations.mean():6.1f} est>=err "
            f"{np.sum(a.error >= err):2d}/{len(err)} min {ratio.min():5.2f} med "
            f"{np.median(ratio):5.2f} worst {100 * err.max():.2f}% notconv {np.sum(~conv)} "
            f"lucky {np.sum(conv & (err > 0.02))} exact {exact} "
            f"above rtol {np.sum(conv & (err > rtol))}",
            flush=True,
        )
        evals.append(a.n_evaluations.mean())
    print("median row", np.median(evals))


if __name__ == "__main__":
    main()
