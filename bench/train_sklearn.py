"""The scikit-learn reference for bench/train.ts: one fit on the benchmark's
data set and split, printed as one JSON line.

Run with Debian's /usr/bin/python3 (python3-sklearn). The objective is made
the same as softmax-lbfgs's: scikit-learn 1.2 sums the log-loss where we
average it, so C = 1 / (l2 * n_train) and its gradient tolerance is ours
times n_train.
"""

import argparse
import json
import re
import sys
import time

import numpy as np
import scipy
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler


def status_bytes(field):
    """A figure from /proc/self/status in bytes, or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.M)
        return int(match.group(1)) * 1024 if match else None
    except OSError:
        return None


def reset_peak():
    """Lowers the high-water mark to the current size, so the peak is the fit's."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def blas_threads():
    try:
        from threadpoolctl import threadpool_info

        return [
            {"api": pool.get("internal_api"), "threads": pool.get("num_threads")}
            for pool in threadpool_info()
        ]
    except ImportError:
        return []


def main():
    parser = argparse.ArgumentParser()
    for name in ("features", "labels", "train", "test"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--cols", type=int, required=True)
    parser.add_argument("--l2", type=float, required=True)
    parser.add_argument("--tolerance", type=float, required=True)
    parser.add_argument("--max-iter", type=int, required=True)
    args = parser.parse_args()
    if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) != (1, 2):
        print(
            f"warning: C and tol are mapped for scikit-learn 1.2's summed loss, "
            f"this is {sklearn.__version__}: check that the objectives still match",
            file=sys.stderr,
        )

    X = np.fromfile(args.features, dtype="<f8").reshape(-1, args.cols)
    y = np.fromfile(args.labels, dtype="<i4")
    train = np.fromfile(args.train, dtype="<i4")
    test = np.fromfile(args.test, dtype="<i4")
    n_train = len(train)

    rss_before = status_bytes("VmRSS")
    peak_resets = reset_peak()
    started = time.perf_counter()
    scaler = StandardScaler().fit(X[train])
    X_train = scaler.transform(X[train])
    fit_started = time.perf_counter()
    model = LogisticRegression(
        solver="lbfgs",
        multi_class="multinomial",
        C=1.0 / (args.l2 * n_train),
        tol=args.tolerance * n_train,
        max_iter=args.max_iter,
    ).fit(X_train, y[train])
    fit_seconds = time.perf_counter() - fit_started
    predicted = model.predict(scaler.transform(X[test]))
    end_to_end = time.perf_counter() - started
    peak = status_bytes("VmHWM") if peak_resets else None

    json.dump(
        {
            "rows": len(y),
            "split": {"train": n_train, "test": len(test)},
            "fitSeconds": fit_seconds,
            "endToEndSeconds": end_to_end,
            "accuracy": float(np.mean(predicted == y[test])),
            "macroF1": float(f1_score(y[test], predicted, average="macro")),
            "iterations": int(model.n_iter_[0]),
            "stopReason": "max-iterations" if model.n_iter_[0] >= args.max_iter else "converged",
            "rssBeforeBytes": rss_before,
            "peakRssBytes": peak,
            "versions": {
                "python": sys.version.split()[0],
                "sklearn": sklearn.__version__,
                "numpy": np.__version__,
                "scipy": scipy.__version__,
            },
            "blas": blas_threads(),
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
