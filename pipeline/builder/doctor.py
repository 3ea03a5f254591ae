"""``python -m pipeline doctor``: what a build on this machine will use, and what to fix.

Why: a build silently trains on the CPU when the GPU build of the backend is missing, or trains
on a stand-in when a data copy is missing; both show up only as a slow build or a note on a
page. The doctor checks the same things up front: Keras backend, GPU (``nvidia-smi``) and
whether the backend sees it, mixed precision, threads, which offline data copies are present,
Chromium for the browser tests. Every problem comes with the command or setting that fixes it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.builder import accelerator

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
#: Data copies a full build reads, in the verified data folder.
FULL_DATA = {
    "cifar10 (50,000 training JPEGs, full profile)": "cifar10/yoongikim_train_jpeg/airplane.tar.xz",
    "cifar10 (10,000 test JPEGs)": "cifar10/yoongikim_test_jpeg/airplane.zip",
}


@dataclass
class Report:
    """Facts (name -> value) and problems (each with its fix)."""

    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)

    def problem(self, what: str, fix: str) -> None:
        self.problems.append({"problem": what, "fix": fix})


def _backend_facts(report: Report, choice: accelerator.Choice, import_backend: bool) -> None:
    backend = choice.backend
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    installed = importlib.util.find_spec(module) is not None
    report.facts["backend_installed"] = installed
    if not installed:
        report.problem(
            f"KERAS_BACKEND={backend} but {module} is not installed",
            f"pip install -e '.[{choice.extra}]' (or run a nox session, which installs it)",
        )
        return
    if not import_backend:
        return
    os.environ.setdefault("KERAS_BACKEND", backend)
    from pipeline.library import backends

    try:
        seen = list(backends.current().visible_gpus())
    except Exception as exc:  # a broken install is a finding, not a crash
        report.problem(f"{module} failed to start: {exc}", f"reinstall: pip install -e '.[{choice.extra}]'")
        return
    report.facts["backend_sees_gpus"] = seen
    if choice.gpus and not seen:
        report.problem(
            f"nvidia-smi lists {choice.gpus[0].name} but {module} does not see a GPU: the build "
            "would train on the CPU",
            f"install the GPU build: NNX_ACCELERATOR=gpu nox -s build (extra '{accelerator.EXTRAS[(backend, 'gpu')]}'), "
            "and check that CUDA_VISIBLE_DEVICES is not empty",
        )


def _mixed_precision_fact(gpu: bool, backend: str) -> str:
    """What ``Explainer.enable_mixed_precision`` will pick in a recipe's kernel, and why.

    Kernels run with oneDNN on (``ONEDNN_DEFAULT``) unless the environment sets
    ``TF_ENABLE_ONEDNN_OPTS`` (:func:`pipeline.builder.executor.kernel_env`), and only oneDNN
    reaches a CPU's bfloat16 units.
    """
    from pipeline.library.precision import bf16_cpu_flags, choose_mixed_precision, onednn_requested

    onednn = backend == "tensorflow" and onednn_requested()
    picked = choose_mixed_precision(gpu=gpu, cpu_flags=bf16_cpu_flags(), onednn=onednn)
    if picked.policy is None:
        return f"off ({picked.reason})"
    return f"on for recipes whose sizes ask for it (mixed_precision: true): {picked.reason}"


def diagnose(data_dir: Path | None = None, *, import_backend: bool = True) -> Report:
    """Collect the facts and problems (``import_backend=False`` skips importing the framework)."""
    report = Report()
    try:
        choice = accelerator.choose()
    except ValueError as exc:
        report.problem(str(exc), "unset the variable or use one of the values it names")
        return report
    report.facts.update({
        "keras_backend": choice.backend,
        "install_extra": choice.extra,
        "accelerator": choice.accelerator,
        "accelerator_reason": choice.reason,
        "gpus": [asdict(g) for g in choice.gpus],
    })
    _backend_facts(report, choice, import_backend)
    sees = bool(report.facts.get("backend_sees_gpus"))
    report.facts["mixed_precision"] = _mixed_precision_fact(sees, choice.backend)
    threads = os.environ.get("NNX_KERNEL_THREADS")
    report.facts["threads"] = (f"NNX_KERNEL_THREADS={threads}" if threads else
                               f"{os.cpu_count()} cores shared among the recipes a build runs "
                               "(NNX_KERNEL_THREADS unset)")

    from pipeline.library import datasets

    data = data_dir if data_dir is not None else datasets.default_data_dir()
    report.facts["data_dir"] = str(data) if data else None
    present: dict[str, bool] = {}
    if data is None or not Path(data).is_dir():
        report.problem("no offline data folder: offline builds fall back to stand-ins",
                       f"pass --data-dir, set {datasets.DATA_DIR_ENV}=/path/to/datasets, or set "
                       "data_dir of the nn-explainers plugin in mkdocs.yml")
    else:
        for name in sorted(datasets.DATASETS):
            if not datasets.DATASETS[name].verified:  # generated data (moons): nothing to copy
                continue
            present[name] = bool(datasets.dataset_files(name, data))
        for label, rel in FULL_DATA.items():
            present[label] = (Path(data) / rel).is_file()
            if not present[label]:
                report.problem(f"{label} missing in {data}",
                               f"copy {rel.split('/')[0]}/{rel.split('/')[1]}/ from the shared datasets")
    report.facts["data_present"] = present

    chromium = next((c for c in CHROMIUM_CANDIDATES if Path(c).is_file()), None) or shutil.which(
        "chromium")
    report.facts["chromium"] = chromium
    if chromium is None:
        report.problem("Chromium not found: the browser tests (-m browser) will be skipped",
                       "apt-get install chromium (or: python -m playwright install chromium)")
    return report


def format_report(report: Report) -> str:
    """Readable lines: facts, then each problem with its fix."""
    lines = ["nn-explainers doctor", ""]
    for key, value in report.facts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(
                f"{v['name']} ({v['memory_mib']} MiB)" if isinstance(v, dict) else str(v)
                for v in value) or "none"
        lines.append(f"  {key:<20} {value}")
    lines.append("")
    if not report.problems:
        lines.append("No problems found.")
    for p in report.problems:
        lines += [f"PROBLEM: {p['problem']}", f"    fix: {p['fix']}"]
    return "\n".join(lines)


def run(data_dir: Path | None = None, as_json: bool = False) -> int:
    """Print the report; exit status 1 when there is a problem."""
    report = diagnose(data_dir)
    print(json.dumps(asdict(report), indent=2) if as_json else format_report(report))  # noqa: T201 (CLI output)
    return 1 if report.problems else 0
