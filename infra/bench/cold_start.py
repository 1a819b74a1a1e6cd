"""Cold start: each function's handler imported as Lambda imports it, and the packages'
sizes.

Each function's zip and the dependencies layer are built as ``deploy`` builds them and
unpacked the way Lambda lays them out (the zip in the task root, the layer's ``python/``
after it, then the runtime's boto3 and its dependencies: this virtualenv's, and nothing
else of it; the repository itself is kept off the path). Then, in fresh interpreters,
the import of the handler's module is timed — what a cold start runs before the first
invocation, its module-level clients included — and so is ``import boto3`` alone, the
part every Python function pays. The handler module's own imports are made first, so its
own code (its clients, its logger) is timed apart: where the time goes. No bytecode is
written (``-B``): Lambda's task root and ``/opt`` are read-only, so a module that ships
no ``.pyc`` is compiled at every cold start. Rounds go through every function in turn, so
a burst of load on a shared machine hits them alike; medians over ``interpreters`` rounds.

Both the interpreter's CPU time and the wall-clock time of the import are kept. The
targets are checked on CPU time: on a shared machine the wall clock also counts the
waits for a core (it varied ±35% between runs here, CPU time ±15%), and on Lambda a
function's share of a core is set by its memory anyway.
"""

from __future__ import annotations

import ast
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
# With argv[1] (JSON) as the path (Lambda's task root, the layer, the runtime's libraries),
# imports the modules named in argv[3] (comma-separated), then the one named in argv[2];
# prints the CPU milliseconds of both, of the second alone, and the wall-clock ms of both.
_TIMED_IMPORT = """\
import sys, json, time
sys.path[:0] = json.loads(sys.argv[1])
cpu, wall = time.process_time(), time.perf_counter()
for name in filter(None, sys.argv[3].split(",")):
    __import__(name)
own = time.process_time()
__import__(sys.argv[2])
end = time.process_time()
print((end - cpu) * 1000, (end - own) * 1000, (time.perf_counter() - wall) * 1000)
"""


@dataclass(frozen=True)
class Timing:
    """One fresh interpreter's import: CPU ms in all, CPU ms of the module's own code,
    wall-clock ms in all."""

    cpu_ms: float
    own_ms: float
    wall_ms: float


@dataclass(frozen=True)
class FunctionColdStart:
    """One function: medians of its handler's import in CPU time (``import_ms``), of that
    over ``import boto3``'s, of the handler module's own code (``module_code_ms``: what
    runs after its imports, its clients), and the wall-clock one; its zip's size."""

    function: str
    import_ms: float
    over_boto3_ms: float
    module_code_ms: float
    wall_ms: float
    zip_bytes: int


@dataclass(frozen=True)
class ColdStartResult:
    interpreters: int
    boto3_ms: float  # median CPU time of `import boto3` alone
    boto3_wall_ms: float
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


def top_level_imports(source: Path) -> list[str]:
    """The modules a module imports at its top level, in order (not ``__future__``)."""
    names = []
    for node in ast.parse(source.read_bytes()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__" and not node.level:
            names.append(node.module)
    return names


def timed_import(
    module: str,
    path: list[str],
    environment: dict[str, str],
    cwd: Path,
    first: list[str] = (),
) -> Timing:
    """How long a fresh interpreter took to import ``first``, then ``module``."""
    result = subprocess.run(
        # -S: no site (the editable install would put this repository on the path);
        # -B: no bytecode written, as on Lambda's read-only file system.
        [
            sys.executable,
            "-S",
            "-B",
            "-c",
            _TIMED_IMPORT,
            json.dumps(path),
            module,
            ",".join(first),
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": BENCH_REGION, **environment},
        cwd=cwd,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {result.stderr[-2000:]}")
    return Timing(*(float(value) for value in result.stdout.split()))


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
        zips, first = {}, {}
        for spec in FUNCTIONS:
            zips[spec.name] = build_function_zip(spec.handler)
            zipfile.ZipFile(io.BytesIO(zips[spec.name])).extractall(root / spec.name)
            module = handler_module(spec.handler)
            first[spec.name] = top_level_imports(
                root / spec.name / (module.replace(".", "/") + ".py")
            )
        boto3_samples: list[Timing] = []
        samples: dict[str, list[Timing]] = {spec.name: [] for spec in FUNCTIONS}
        for _ in range(interpreters):
            boto3_samples.append(timed_import("boto3", [runtime], {}, root))
            for spec in FUNCTIONS:
                path = [str(root / spec.name), str(root / "opt" / LAYER_ROOT), runtime]
                samples[spec.name].append(
                    timed_import(
                        handler_module(spec.handler),
                        path,
                        bench_environment(spec),
                        root,
                        first[spec.name],
                    )
                )
    boto3 = median_timing(boto3_samples)
    functions = []
    for spec in FUNCTIONS:
        timing = median_timing(samples[spec.name])
        functions.append(
            FunctionColdStart(
                function=spec.name,
                import_ms=timing.cpu_ms,
                over_boto3_ms=timing.cpu_ms - boto3.cpu_ms,
                module_code_ms=timing.own_ms,
                wall_ms=timing.wall_ms,
                zip_bytes=len(zips[spec.name]),
            )
        )
    return ColdStartResult(interpreters, boto3.cpu_ms, boto3.wall_ms, len(layer), functions)


def median_timing(samples: list[Timing]) -> Timing:
    """Each field's median."""
    return Timing(
        statistics.median(t.cpu_ms for t in samples),
        statistics.median(t.own_ms for t in samples),
        statistics.median(t.wall_ms for t in samples),
    )


if __name__ == "__main__":  # a quick look without the rest of the bench
    from infra.bench.report import cold_start_lines

    print("\n".join(cold_start_lines(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 20))))
