"""Cold start: each function's handler imported as Lambda imports it, and the packages'
sizes.

Each function's zip and the dependencies layer are built as ``deploy`` builds them and
unpacked the way Lambda lays them out (the zip in the task root, the layer's ``python/``
after it, then the runtime's boto3 and its dependencies: this virtualenv's, and nothing
else of it; the repository itself is kept off the path). Then, in fresh interpreters,
the import of the handler's module is timed — what a cold start runs before the first
invocation, its module-level clients included — and so is ``import boto3`` alone, the
part every Python function pays. No bytecode is
written (``-B``): Lambda's task root and ``/opt`` are read-only, so a module that ships
no ``.pyc`` is compiled at every cold start. Rounds go through every function in turn, so
a burst of load on a shared machine hits them alike; medians over ``interpreters`` rounds.
"""

from __future__ import annotations

import importlib.util
import io
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra.aws.packaging import (
    LAYER_ROOT,
    RUNTIME_PROVIDED,
    build_function_zip,
    build_layer,
    function_contents,
    handler_module,
)
from infra.catalog import (
    FUNCTIONS,
    Deployment,
    FunctionSpec,
    QueueUrl,
    TopicArn,
    resolve_environment,
)

TARGET_OVER_BOTO3_MS = 30.0
ZIP_LIMIT_BYTES = 100 * 1024
BENCH_REGION = "us-east-1"
# Prints how long importing the module named in argv[2] took, with argv[1] (JSON) as the
# path: Lambda's task root, the layer, the runtime's libraries.
_TIMED_IMPORT = (
    "import sys, json, time\n"
    "sys.path[:0] = json.loads(sys.argv[1])\n"
    "started = time.perf_counter()\n"
    "__import__(sys.argv[2])\n"
    "print((time.perf_counter() - started) * 1000)\n"
)


@dataclass(frozen=True)
class FunctionColdStart:
    """One function: its handler's median import time, that over boto3's, its zip."""

    function: str
    import_ms: float
    over_boto3_ms: float
    zip_bytes: int


@dataclass(frozen=True)
class ColdStartResult:
    interpreters: int
    boto3_ms: float  # median time of `import boto3` alone
    layer_bytes: int
    functions: list[FunctionColdStart]

    def over_target(self) -> list[str]:
        """The functions over a target: import time over boto3's, or zip size."""
        return [
            f.function
            for f in self.functions
            if f.over_boto3_ms > TARGET_OVER_BOTO3_MS or f.zip_bytes >= ZIP_LIMIT_BYTES
        ]


def bench_environment(spec: FunctionSpec) -> dict[str, str]:
    """The variables the handler reads when imported, with stand-in values."""
    deployment = Deployment(
        email_from="bench@example.com",
        email_to="bench@example.com",
        database_secret_id="bench",
        relay_database_secret_id="bench",
    )
    account = f"{BENCH_REGION}:123456789012"
    values = spec.environment.values()
    topics = {v.topic: f"arn:aws:sns:{account}:bench" for v in values if isinstance(v, TopicArn)}
    queues = {v.queue: "https://sqs.example/bench" for v in values if isinstance(v, QueueUrl)}
    return resolve_environment(spec, deployment, topics, queues)


def runtime_libraries(directory: Path) -> Path:
    """A stand-in for the Lambda runtime's libraries: links in ``directory`` to this
    virtualenv's boto3 and what it brings, and nothing else (the virtualenv also holds
    libraries Lambda does not have, which PyMySQL would import if it found them)."""
    directory.mkdir()
    for name in sorted(RUNTIME_PROVIDED | {"six"}):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        if spec.submodule_search_locations:  # a package: its folder, bytecode inside
            (directory / origin.parent.name).symlink_to(origin.parent)
            continue
        (directory / origin.name).symlink_to(origin)  # a module: its bytecode beside it
        compiled = Path(importlib.util.cache_from_source(str(origin)))
        if compiled.is_file():
            (directory / "__pycache__").mkdir(exist_ok=True)
            (directory / "__pycache__" / compiled.name).symlink_to(compiled)
    return directory


def timed_import(module: str, path: list[str], environment: dict[str, str], cwd: Path) -> float:
    """Milliseconds a fresh interpreter took to import ``module`` with ``path``."""
    result = subprocess.run(
        # -S: no site (the editable install would put this repository on the path);
        # -B: no bytecode written, as on Lambda's read-only file system.
        [sys.executable, "-S", "-B", "-c", _TIMED_IMPORT, json.dumps(path), module],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": BENCH_REGION, **environment},
        cwd=cwd,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {result.stderr[-2000:]}")
    return float(result.stdout.strip())


def layer_libraries() -> set[str]:
    """Every library the functions take from the layer (the project's own layer, whole)."""
    return {
        name for spec in FUNCTIONS for name in function_contents(spec.handler).layer_libraries()
    }


def measure(interpreters: int = 20) -> ColdStartResult:
    """Build, unpack and time (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="aurora-events-cold-start-") as base:
        root = Path(base)
        layer = build_layer(layer_libraries()).zip
        zipfile.ZipFile(io.BytesIO(layer)).extractall(root / "opt")
        runtime = str(runtime_libraries(root / "runtime"))
        zips = {}
        for spec in FUNCTIONS:
            zips[spec.name] = build_function_zip(spec.handler)
            zipfile.ZipFile(io.BytesIO(zips[spec.name])).extractall(root / spec.name)
        boto3_samples: list[float] = []
        samples: dict[str, list[float]] = {spec.name: [] for spec in FUNCTIONS}
        for _ in range(interpreters):
            boto3_samples.append(timed_import("boto3", [runtime], {}, root))
            for spec in FUNCTIONS:
                path = [str(root / spec.name), str(root / "opt" / LAYER_ROOT), runtime]
                samples[spec.name].append(
                    timed_import(handler_module(spec.handler), path, bench_environment(spec), root)
                )
    boto3_ms = statistics.median(boto3_samples)
    return ColdStartResult(
        interpreters=interpreters,
        boto3_ms=boto3_ms,
        layer_bytes=len(layer),
        functions=[
            FunctionColdStart(
                function=spec.name,
                import_ms=statistics.median(samples[spec.name]),
                over_boto3_ms=statistics.median(samples[spec.name]) - boto3_ms,
                zip_bytes=len(zips[spec.name]),
            )
            for spec in FUNCTIONS
        ],
    )


if __name__ == "__main__":  # a quick look without the rest of the bench
    result = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    print(f"import boto3: {result.boto3_ms:.1f} ms; layer {result.layer_bytes / 1024:.0f} KiB")
    for f in result.functions:
        print(
            f"  {f.function:7} {f.import_ms:7.1f} ms  +{f.over_boto3_ms:6.1f} ms over boto3  "
            f"zip {f.zip_bytes / 1024:5.1f} KiB"
        )
