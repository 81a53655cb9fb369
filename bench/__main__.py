"""`python -m bench [section ...]`: the benchmark suite. Numbers are printed,
never asserted. Sections: recognition, server, uploads, scale, storage, detection (all by
default), and cluster (only when named: it starts real processes and needs PostgreSQL;
cluster-uploads is its part on uploads through 1 and 2 replicas, alone).
BENCH_RUNS sets the runs per figure, BENCH_SIZES the collection sizes;
BENCH_DATABASE_URL (a PostgreSQL server) runs `scale` on PostgreSQL instead of SQLite.
`python -m bench load` runs the load test instead (bench/load.py; LOAD_CLIENTS,
LOAD_SECONDS), `python -m bench graphql` hostile GraphQL documents against a
live server (bench/graphql_cost.py), `python -m bench decode` the server's
memory under large decodes (bench/decode.py), and `python -m bench zero-shot` the
catalog-size benchmark (bench/zero_shot.py); none is part of the default set."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from bench import (
    decode,
    decode_once,
    detection,
    graphql_cost,
    load,
    queue,
    recognition,
    replicas,
    scale,
    storage,
    uploads,
)
from bench import server as overhead
from bench.harness import Figure, header
from recognition.local import resolve_engine

SECTIONS = ("recognition", "server", "uploads", "scale", "storage", "detection")
# Run only when named: processes, PostgreSQL, several minutes.
CLUSTER = ("cluster", "cluster-uploads")
# Run only when named: each has its own report (load and graphql an exit status).
ON_REQUEST = ("load", "graphql", "decode", "zero-shot")


def main(argv: list[str]) -> None:
    wanted = argv or list(SECTIONS)
    unknown = set(wanted) - set(SECTIONS) - set(ON_REQUEST) - set(CLUSTER)
    if unknown:
        raise SystemExit(
            f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS + CLUSTER + ON_REQUEST)}"
        )
    figure_sections = [s for s in wanted if s in SECTIONS or s in CLUSTER]
    if figure_sections:
        figures_table(figure_sections)
    if "zero-shot" in wanted:
        from bench import zero_shot

        zero_shot.main(int(os.environ.get("BENCH_RUNS", "15")))
    if "decode" in wanted:
        decode.main()
    if "load" in wanted:
        sys.exit(load.main())
    if "graphql" in wanted:
        sys.exit(graphql_cost.main())


def figures_table(wanted: list[str]) -> None:
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    sizes = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",")]
    print(header())
    print(
        f"each figure: the median of {runs} runs after a warm-up (fewer where noted by n); ± is half the range\n",
        flush=True,
    )
    figures: list[Figure] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "vit-b16"
        if {"recognition", "server", "detection", "uploads"} & set(wanted):
            recognition.make_model(model)
        for section in wanted:
            print(f"-- {section} ...", file=sys.stderr, flush=True)
            if section == "recognition":
                found, ratios = recognition.speed(model, folder, runs)
                figures += found
                notes += ratios + recognition.deviation(model, folder)
            elif section == "server":
                for engine in {resolve_engine("auto", "auto"), ("onnxruntime", "fp32")}:
                    found, lines = overhead.figures(model, folder, runs, engine)
                    figures += found
                    notes += lines
            elif section == "uploads":
                figures += uploads.figures(runs)
                found, lines = decode_once.figures(model, runs)
                figures += found
                notes += lines
            elif section == "storage":
                found, lines = storage.figures(runs)
                figures += found
                notes += lines
            elif section == "detection":
                found, lines = detection.figures(model, folder, runs)
                figures += found
                notes += lines
            elif section in CLUSTER:
                if section == "cluster":
                    found, lines = queue.figures(runs)
                    figures += found
                    notes += lines
                found, lines = replicas.figures(runs)
                figures += found
                notes += lines
            elif section == "scale":
                found, growth = scale.figures(runs, sizes)
                figures += found
                notes += growth
            for figure in figures[-3:]:
                print(figure.row(), file=sys.stderr, flush=True)
    print(f"{'figure':<64} {'median':>10} {'unit':<10} spread")
    for figure in figures:
        print(figure.row())
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main(sys.argv[1:])
