"""``meshsim import traces | prometheus | k8s ... --out DIR``: a runnable topology from what the
cluster and its telemetry already know (see :mod:`meshsim.importers`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meshsim.cli.common import console, err_console, user_errors

import_app = typer.Typer(
    help="Build a topology and load profile from traces, Prometheus metrics or Kubernetes exports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Out = Annotated[
    Path,
    typer.Option(
        "--out", "-o", help="Directory to write topology.yaml, load.yaml (routing.yaml) and import-report.txt to."
    ),
]


def _header(kind: str, files: list[str]) -> str:
    return f"# Written by meshsim import {kind} from {', '.join(Path(f).name for f in files)}. Review it before relying on it.\n"


def _print(inferred: list[str], missing: list[str], written: list[Path], problems: list[str]) -> None:
    for line in inferred:
        console.print(line, highlight=False, soft_wrap=True)
    for line in [*problems, *missing]:
        err_console.print("not imported: " + line, style="yellow", highlight=False, soft_wrap=True)
    console.print(f"Wrote {', '.join(str(p) for p in written)}", highlight=False, soft_wrap=True)


TraceFilesArgument = typer.Argument(
    help="Jaeger JSON (UI download or query API), Zipkin v2 JSON or OTLP/JSON files.", show_default=False
)
SamplingOption = typer.Option(
    "--sampling",
    min=1e-6,
    max=1.0,
    help="Fraction of requests that were traced (Istio's default is 0.01); divides the arrival rate.",
)
CrossCheckOption = typer.Option(
    "--prometheus", help="Istio metrics to cross-check the traces against (text exposition or query-API JSON)."
)
MaxKsOption = typer.Option(
    "--max-ks",
    min=0.0,
    max=1.0,
    help="Largest Kolmogorov-Smirnov distance a parametric fit may have before the empirical distribution is used.",
)


@import_app.command("traces")
def traces_cmd(
    files: Annotated[list[Path], TraceFilesArgument],
    out: Out,
    sampling: Annotated[float, SamplingOption] = 1.0,
    prometheus: Annotated[list[Path] | None, CrossCheckOption] = None,
    max_ks: Annotated[float, MaxKsOption] = 0.05,
) -> None:
    """Infer services, versions, the call graph, self times and the arrival rate from traces."""
    from meshsim.importers.emit import build_documents, write_outputs
    from meshsim.importers.graph import graph_of_files

    with user_errors():
        g, infos, problems = graph_of_files(files)
        em = build_documents(g, name=files[0].stem, sampling=sampling, max_ks=max_ks)
        if prometheus:
            from meshsim.importers.prometheus import cross_check, read_metrics

            metrics = read_metrics(prometheus)
            problems.extend(metrics.problems)
            em.missing.extend(cross_check(g, metrics))
        report = {
            "files": ", ".join(f"{i.path} ({i.fmt}, {i.traces} traces, {i.spans} spans)" for i in infos),
            "traces": g.traces,
            "traces with sidecar spans": g.proxy_traces,
        }
        written = write_outputs(em, out, _header("traces", [str(f) for f in files]), report)
        _print(em.inferred, em.missing, written, problems)


@import_app.command("prometheus")
def prometheus_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="istio_requests_total / istio_request_duration_milliseconds: Prometheus text exposition or query-API JSON.",
            show_default=False,
        ),
    ],
    out: Out,
    window: Annotated[
        float | None,
        typer.Option(
            "--window",
            min=1e-6,
            help="Seconds the counters cover (text exposition of counters since start); query-API JSON of rate() needs none.",
        ),
    ] = None,
) -> None:
    """Infer the call graph, call ratios, response codes and rates from Istio's standard metrics."""
    from meshsim.importers.emit import write_outputs
    from meshsim.importers.prometheus import metrics_documents, read_metrics

    with user_errors():
        metrics = read_metrics(files, window)
        em = metrics_documents(metrics, name=files[0].stem)
        written = write_outputs(
            em, out, _header("prometheus", [str(f) for f in files]), {"files": ", ".join(map(str, files))}
        )
        _print(em.inferred, em.missing, written, metrics.problems)


@import_app.command("k8s")
def k8s_cmd(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Deployments and Services (kubectl get deploy,svc -o yaml|json, files or directories).",
            show_default=False,
        ),
    ],
    out: Out,
    traces: Annotated[
        list[Path] | None, typer.Option("--traces", help="Traces to take the call graph and service times from.")
    ] = None,
) -> None:
    """A topology skeleton from Deployments and Services: one service per Service, versions from pod
    labels, replicas; the call graph and service times from --traces, else marked placeholders."""
    from meshsim.importers.emit import write_outputs
    from meshsim.importers.k8s import skeleton

    with user_errors():
        em = skeleton(files, traces or [])
        written = write_outputs(em, out, _header("k8s", files), {"files": ", ".join(files)})
        _print(em.inferred, em.missing, written, [])
