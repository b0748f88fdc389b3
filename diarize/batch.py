"""Diarize a folder of recordings: discovery, parallel workers, resume, per-file failure
isolation, reports, and local-process or Dask back ends.

>>> from diarize.batch import BatchOptions, run_batch
>>> from diarize.pipeline import RunOptions
>>> report = run_batch(Path("calls"), Path("rttm"), BatchOptions(jobs=2), RunOptions())
>>> report.failed          # [] when every file was diarized

Outputs in ``out_dir``:

- ``<relative folder>/<stem>.rttm``: one per recording (empty when no speech was found);
- ``all.rttm``: every recording that has an RTTM, in file order;
- ``report.json`` / ``report.csv``: file, duration, speakers, seconds taken, status, error;
- ``config.toml``: the resolved pipeline configuration (what ``--config`` reads).

Every file is written atomically (temporary file + rename) by this process only; workers
return RTTM text. An interrupted run therefore never leaves a partial RTTM, and running
again resumes: a recording whose RTTM exists and is newer than the audio is skipped.
While a batch runs it holds a lock on ``out_dir`` (``.diarize-batch.lock``, removed at the
end): a second batch on the same folder is refused instead of computing every file again.
Workers exit when this process dies, however it dies (even by SIGKILL).

Workers load the model once. Each of the ``jobs`` workers gets ``cores // jobs`` encoder
threads (ONNX Runtime's, or torch's for a .pt model), so the machine's cores are used once,
not oversubscribed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from diarize.audio import AUDIO_SUFFIXES
from diarize.errors import ConfigError, DiarizeError
from diarize.pipeline import RunOptions
from diarize.rttm import TEMPORARY_NAME, write_atomic

logger = logging.getLogger(__name__)

#: Names written next to the per-file RTTMs.
COMBINED_RTTM = "all.rttm"
REPORT_JSON = "report.json"
REPORT_CSV = "report.csv"
CONFIG_TOML = "config.toml"
REPORT_FIELDS = ("file", "duration", "speakers", "seconds", "status", "error")
#: Held (flock) by the batch writing to a folder; removed when it ends.
LOCK_FILE = ".diarize-batch.lock"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's ``KeyboardInterrupt`` so that it stops a batch the same
    way: workers stopped, finished files kept (see ``sigterm_interrupts``)."""


@dataclass(frozen=True)
class BatchOptions:
    """How ``diarize batch`` runs (the pipeline itself is described by ``RunOptions``).

    ``pattern`` is a glob matched against file names (``None``: every known audio
    extension); ``jobs`` defaults to the number of usable cores; ``scheduler`` is a Dask
    scheduler address (``tcp://host:port``) or ``"local"`` for a ``LocalCluster`` of
    ``jobs`` worker processes; ``None`` runs local worker processes. ``threads`` is the
    number of encoder threads of each job run by this machine's processes (default:
    cores // jobs; Dask workers use their machine's cores // their task threads).
    """

    pattern: str | None = None
    recursive: bool = False
    jobs: int | None = None
    overwrite: bool = False
    scheduler: str | None = None
    progress: bool = True
    threads: int | None = None


@dataclass(frozen=True)
class Job:
    """One recording to diarize: where it is and what its result is called."""

    index: int
    audio: str
    uri: str
    name: str  # path relative to the input folder, posix style (what reports show)


@dataclass
class FileResult:
    """What became of one recording. ``duration`` and ``seconds`` are in seconds."""

    file: str
    status: str  # "ok", "skipped" (up-to-date RTTM kept), "failed"
    duration: float | None = None
    speakers: int | None = None
    seconds: float | None = None
    error: str = ""
    rttm: str | None = field(default=None, repr=False)  # the text, on the way to the parent

    def row(self) -> dict[str, Any]:
        out = asdict(self)
        del out["rttm"]
        for key in ("duration", "seconds"):
            if out[key] is not None:
                out[key] = round(out[key], 3)
        return out


@dataclass
class BatchReport:
    """Per-file results in input order, and a summary."""

    files: list[FileResult]
    summary: dict[str, Any]

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.files if r.status == "failed"]

    @property
    def processed(self) -> list[FileResult]:
        return [r for r in self.files if r.status == "ok"]

    @property
    def skipped(self) -> list[FileResult]:
        return [r for r in self.files if r.status == "skipped"]

    def to_json(self) -> str:
        payload = {"summary": self.summary, "files": [r.row() for r in self.files]}
        return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=REPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in self.files:
            writer.writerow(r.row())
        return buffer.getvalue()


# --- discovery -------------------------------------------------------------------------------


def usable_cores() -> int:
    """CPU cores this process may run on (affinity / container limits when visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def find_audio(
    in_dir: Path, pattern: str | None = None, recursive: bool = False, exclude: Path | None = None
) -> list[Path]:
    """Audio files in ``in_dir``, sorted by their path relative to it.

    ``pattern`` is a glob on the file name (``"*.wav"``, ``"call_*"``); without one every
    file with a known audio extension is taken. Hidden files and anything under
    ``exclude`` (the output folder) are left out.
    """
    in_dir = Path(in_dir)
    if not in_dir.is_dir():
        raise ConfigError(f"{in_dir}: not a folder")
    glob = in_dir.rglob if recursive else in_dir.glob
    excluded = exclude.resolve() if exclude is not None else None
    found = []
    for path in glob(pattern or "*"):
        relative = path.relative_to(in_dir)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if pattern is None and path.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        if excluded is not None and path.resolve().is_relative_to(excluded):
            continue
        found.append(path)
    return sorted(found, key=lambda p: p.relative_to(in_dir).as_posix())


def output_path(audio: Path, in_dir: Path, out_dir: Path) -> Path:
    """``in_dir/sub/a.wav`` -> ``out_dir/sub/a.rttm`` (sub-folders are mirrored)."""
    relative = audio.relative_to(in_dir)
    return out_dir / relative.parent / f"{audio.stem}.rttm"


def is_up_to_date(audio: Path, rttm: Path) -> bool:
    """True when ``rttm`` exists and was written after ``audio`` last changed."""
    try:
        return rttm.stat().st_mtime_ns >= audio.stat().st_mtime_ns
    except OSError:  # missing, or a path through a file (Not a directory)
        return False


# --- the work on one file (runs in a worker) -------------------------------------------------

# Per-process state of a local worker: the pipeline, built once by ``_init_worker``.
_WORKER: dict[str, Any] = {}


def _diarize_one(pipeline: Any, job: Job) -> FileResult:
    """Run ``pipeline`` on one file; any exception becomes a failed result (isolation)."""
    tic = time.perf_counter()
    try:
        result = pipeline(Path(job.audio), uri=job.uri)
        text = result.to_rttm()
    except DiarizeError as exc:
        return FileResult(job.name, "failed", seconds=time.perf_counter() - tic, error=str(exc))
    except Exception as exc:  # an unexpected bug on one file must not stop the others
        logger.debug("%s failed", job.audio, exc_info=True)
        return FileResult(
            job.name,
            "failed",
            seconds=time.perf_counter() - tic,
            error=f"{job.audio}: {type(exc).__name__}: {exc}",
        )
    return FileResult(
        job.name,
        "ok",
        duration=result.duration,
        speakers=result.num_speakers,
        seconds=time.perf_counter() - tic,
        rttm=text,
    )


def _build_pipeline(run_options: RunOptions):
    from diarize.pipeline import Pipeline

    config = run_options.build_config()
    pipeline = Pipeline(config, model=run_options.model)
    pipeline.scorer(config)  # an unusable --scoring fails here, once, not on every file
    return pipeline


def _set_torch_threads(num_threads: int) -> None:
    """Threads of a worker: the encoder's (ONNX Runtime, and torch where a .pt model or
    --adapt uses it) and the BLAS/OpenMP pools numpy uses (the second resegmentation pass),
    so two workers do not oversubscribe two cores."""
    from threadpoolctl import threadpool_limits

    from diarize.encoder import set_num_threads

    set_num_threads(num_threads)
    threadpool_limits(num_threads)


@contextlib.contextmanager
def _encoder_threads(num_threads: int):
    """The encoder's threads set to ``num_threads`` for a while (sessions created meanwhile
    keep them), then the caller's setting back."""
    from diarize.encoder import get_num_threads, set_num_threads

    previous = get_num_threads()
    torch = sys.modules.get("torch")
    torch_previous = torch.get_num_threads() if torch is not None else None
    set_num_threads(num_threads)
    try:
        yield
    finally:
        set_num_threads(previous)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(torch_previous or num_threads)


#: prctl(2) option: the signal a process gets when the thread that started it ends.
_PR_SET_PDEATHSIG = 1


def _exit_with_parent(parent_pid: int) -> None:
    """End this worker when the batch process ``parent_pid`` that started it dies, however
    it dies (SIGKILL, out of memory...), so that no idle worker outlives it holding its
    memory. On Linux the kernel sends SIGKILL (PR_SET_PDEATHSIG); elsewhere a daemon thread
    checks the parent every second. A worker whose parent died while it was starting up
    (before this ran) exits here."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                if os.getppid() != parent_pid:  # it died before the request was made
                    os._exit(1)
                return
        except (OSError, AttributeError):  # no prctl: fall back on the watchdog
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="diarize-parent-watch", daemon=True).start()


def _init_worker(
    run_options: RunOptions, num_threads: int, log_level: int, parent_pid: int | None = None
) -> None:
    """Initializer of a local worker process: threads, logging, and the model, once."""
    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    # Ctrl-C goes to the whole process group: the parent alone decides what happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("diarize").setLevel(log_level)
    _set_torch_threads(num_threads)
    try:
        _WORKER["pipeline"] = _build_pipeline(run_options)
    except Exception as exc:  # reported with every file instead of a broken pool
        _WORKER["error"] = f"worker could not load the pipeline: {exc}"


def _worker_task(job: Job) -> FileResult:
    if "pipeline" not in _WORKER:
        return FileResult(job.name, "failed", error=_WORKER.get("error", "worker not ready"))
    return _diarize_one(_WORKER["pipeline"], job)


# --- back ends: each yields FileResults as they complete ---------------------------------------


def _run_in_process(
    jobs: list[Job], pipeline: Any, num_threads: int
) -> Iterator[tuple[Job, FileResult]]:
    with _encoder_threads(num_threads):
        for job in jobs:
            yield job, _diarize_one(pipeline, job)


def _run_process_pool(
    jobs: list[Job], run_options: RunOptions, num_workers: int, num_threads: int
) -> Iterator[tuple[Job, FileResult]]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # spawn, not fork: a forked child of a process that already ran thread pools (torch's,
    # ONNX Runtime's) can deadlock; spawn costs one interpreter start per worker, not per file.
    executor = ProcessPoolExecutor(
        max_workers=num_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(
            run_options,
            num_threads,
            logging.getLogger("diarize").getEffectiveLevel(),
            os.getpid(),
        ),
    )
    finished = False
    try:
        with _sigint_ignored():  # workers start here and inherit it: Ctrl-C is ours alone
            pending = {executor.submit(_worker_task, job): job for job in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    result = FileResult(
                        job.name,
                        "failed",
                        error=f"{job.audio}: a worker process died while this file was "
                        "queued or running (killed, or out of memory?)",
                    )
                yield job, result
        finished = True
    finally:
        if finished:
            executor.shutdown(wait=True)
        else:  # interrupted (Ctrl-C, or the caller stopped early): stop the workers now
            _stop_workers(executor)


def _stop_workers(executor: Any) -> None:
    """Terminate the pool's worker processes and wait until each has exited (killing any
    that ignore the request), so that no worker outlives an interrupted batch.

    The pool's management thread may still start a replacement worker while the pool breaks
    down, so the live table of processes is swept until that thread has finished.
    """
    live = getattr(executor, "_processes", None) or {}  # the same dict the thread updates
    manager = getattr(executor, "_executor_manager_thread", None)
    seen: dict[int, Any] = {}

    def sweep() -> None:
        for process in list(live.values()):
            seen.setdefault(id(process), process)
        for process in seen.values():
            if process.is_alive():
                process.terminate()

    sweep()
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 30.0
    while manager is not None and manager.is_alive() and time.monotonic() < deadline:
        sweep()
        manager.join(timeout=0.1)
    sweep()
    for process in seen.values():
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not ours to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within it, SIGTERM (what ``kill``, ``timeout``, job schedulers and container runtimes
    send) raises ``Terminated``, a ``KeyboardInterrupt``: a batch stops as on Ctrl-C, its
    workers stopped and every finished file kept. Only the first SIGTERM raises; those that
    follow while the batch stops are ignored. Outside the main thread it does nothing."""
    received = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal received
        if not received:
            received = True
            raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# Per-worker state on a Dask cluster: worker address -> (run options, pipeline or error).
# Built by the first task a worker runs, then reused: the model loads once per worker.
_DASK_PIPELINES: dict[str, tuple[RunOptions, Any, str]] = {}
_DASK_LOCK = threading.Lock()


def _dask_pipeline(run_options: RunOptions, threads_per_host: dict[str, int]) -> tuple[Any, str]:
    """This worker's pipeline (or why it has none), built on first use.

    ``threads_per_host`` maps a host to the number of task threads the cluster runs there,
    so that each worker's encoder uses its share of that machine's cores.
    """
    from distributed import get_worker
    from distributed.comm import get_address_host

    worker = get_worker()
    with _DASK_LOCK:
        cached = _DASK_PIPELINES.get(worker.address)
        if cached is not None and cached[0] == run_options:
            return cached[1], cached[2]
        task_threads = threads_per_host.get(get_address_host(worker.address), 0)
        task_threads = max(task_threads, worker.state.nthreads, 1)
        _set_torch_threads(max(1, (os.cpu_count() or 1) // task_threads))
        pipeline, error = None, ""
        try:
            pipeline = _build_pipeline(run_options)
        except Exception as exc:  # reported with every file this worker gets
            error = f"worker {worker.address} could not load the pipeline: {exc}"
        _DASK_PIPELINES[worker.address] = (run_options, pipeline, error)
        return pipeline, error


def _dask_task(job: Job, run_options: RunOptions, threads_per_host: dict[str, int]) -> FileResult:
    pipeline, error = _dask_pipeline(run_options, threads_per_host)
    if pipeline is None:
        return FileResult(job.name, "failed", error=error)
    return _diarize_one(pipeline, job)


def _require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--dask / --scheduler need Dask's distributed scheduler: "
            'pip install -e ".[cluster]" in the diarize folder'
        ) from None


def _dask_client(scheduler: str, num_workers: int):
    from distributed import Client, LocalCluster

    if logging.getLogger("diarize").getEffectiveLevel() > logging.DEBUG:
        # Dask logs every connection at INFO; keep its warnings, drop its chatter.
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=num_workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="30s"), None
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def _run_dask(
    jobs: list[Job], run_options: RunOptions, scheduler: str, num_workers: int
) -> Iterator[tuple[Job, FileResult]]:
    """Run on a Dask cluster. Workers must see the input files at the same paths; the RTTM
    text comes back here, so the output folder need only exist on this machine."""
    client, cluster = _dask_client(scheduler, num_workers)
    futures = []
    finished = False
    try:
        from distributed import as_completed
        from distributed.comm import get_address_host

        threads_per_host: dict[str, int] = {}
        for address, info in client.scheduler_info()["workers"].items():
            host = get_address_host(address)
            threads_per_host[host] = threads_per_host.get(host, 0) + int(info["nthreads"])
        if not threads_per_host:
            raise ConfigError(f"the Dask cluster at {scheduler} has no workers")
        futures = client.map(
            _dask_task, jobs, run_options=run_options, threads_per_host=threads_per_host, pure=False
        )
        by_key = {future.key: job for future, job in zip(futures, jobs, strict=True)}
        for future in as_completed(futures):
            job = by_key[future.key]
            try:
                result = future.result()
            except Exception as exc:  # a worker lost for good, a task killed...
                result = FileResult(job.name, "failed", error=f"{job.audio}: {exc}")
            yield job, result
        finished = True
    finally:
        if futures and not finished:
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()


# --- the batch ------------------------------------------------------------------------------


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, unit="file", desc="diarize", disable=not enabled, file=sys.stderr, leave=True
    )


def _previous_durations(out_dir: Path) -> dict[str, float]:
    """file -> duration from an earlier report.json, so a resumed run need not decode it."""
    try:
        rows = json.loads((out_dir / REPORT_JSON).read_text(encoding="utf-8"))["files"]
        return {r["file"]: float(r["duration"]) for r in rows if r.get("duration") is not None}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _skipped_result(job: Job, rttm: Path, known_duration: float | None) -> FileResult:
    from diarize.audio import info_duration
    from diarize.rttm import read_rttm

    speakers = None
    duration = known_duration
    try:
        speakers = len({t.speaker for d in read_rttm(rttm).values() for t in d.turns})
        if duration is None:
            duration = info_duration(job.audio)
    except Exception:  # the report row is informative only; the RTTM is what counts
        logger.debug("cannot summarise %s", rttm, exc_info=True)
    return FileResult(job.name, "skipped", duration=duration, speakers=speakers)


def _config_text(run_options: RunOptions) -> str:
    """The resolved configuration as TOML, headed by the model it runs with (a comment)."""
    from diarize.encoder import default_model_path, sha256sum

    model = Path(run_options.model) if run_options.model is not None else default_model_path()
    digest = f" sha256 {sha256sum(model)}" if model.is_file() else ""
    return f"# model: {model}{digest}\n" + run_options.build_config().to_toml()


def _write(path: Path, text: str) -> None:
    """``write_atomic``, with a failure (disk full, permissions...) as a one-line error."""
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise DiarizeError(f"cannot write {path}: {exc.strerror or exc}") from None


def _lock(path: Path) -> int | None:
    """Take the lock file ``path`` (flock, released by the kernel however this process ends);
    returns its descriptor, or None where there are no such locks (not POSIX)."""
    try:
        import fcntl
    except ImportError:
        return None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"-o {path.parent}: cannot write there ({exc.strerror or exc})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip()
            os.close(fd)
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise ConfigError(
                f"-o {path.parent} is in use by another diarize batch{pid}; wait until it "
                "ends, or write to another folder"
            ) from None
        except OSError as exc:  # a file system without locks
            logger.warning("cannot lock %s (%s); carrying on without", path, exc.strerror or exc)
            return fd
        # The batch that held it removes the file when it ends: if that happened between the
        # open and the lock, this lock is on a file no other batch will see; start again.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            return fd
        os.close(fd)


@contextlib.contextmanager
def _output_folder(out_dir: Path) -> Iterator[None]:
    """Create ``out_dir`` and hold its lock while the batch runs.

    A folder that cannot be created or written to, and one that another batch is writing
    to, are errors here, before any work. A folder created here and left empty (the batch
    stopped before writing anything) is removed again.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"-o {out_dir} is a file; batch writes a folder")
    created = not out_dir.is_dir()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"-o {out_dir}: cannot create the folder ({exc.strerror or exc})"
        ) from None
    lock = out_dir / LOCK_FILE
    try:
        fd = _lock(lock)
    except BaseException:
        if created:
            _remove_if_empty(out_dir)
        raise
    try:
        remove_stale_temporaries(out_dir)
        yield
    finally:
        if fd is not None:
            lock.unlink(missing_ok=True)  # while still holding it (see _lock)
            os.close(fd)
        if created:
            _remove_if_empty(out_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: it exists
        return True
    return True


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """Remove the temporary files (``.NAME.PID.tmp``, see :func:`diarize.rttm.write_atomic`)
    that a killed writer left under ``out_dir``: a process killed by SIGKILL between writing
    and renaming cannot remove its own. A file whose writer is still running is left alone.
    Returns the files removed."""
    removed = []
    for path in out_dir.rglob(".*.tmp"):
        match = TEMPORARY_NAME.match(path.name)
        if match and path.is_file() and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    if removed:
        logger.info("removed %d temporary file(s) left by a killed run", len(removed))
    return removed


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _check_previous_config(out_dir: Path, config_text: str, num_kept: int) -> None:
    """Outputs kept from an earlier run must come from the same configuration and model."""
    previous = out_dir / CONFIG_TOML
    if num_kept == 0 or not previous.is_file():
        return
    if previous.read_text(encoding="utf-8") != config_text:
        raise ConfigError(
            f"{out_dir} holds {num_kept} result(s) made with another configuration or model "
            f"(see {previous}); use --overwrite to redo them all, or another output folder"
        )


@dataclass
class _Plan:
    jobs: list[Job]  # every file found, in order
    targets: dict[int, Path]  # job index -> its RTTM
    todo: list[Job]  # the files to diarize in this run
    kept: dict[int, FileResult]  # job index -> "skipped" result (an up-to-date RTTM)


def _plan(in_dir: Path, out_dir: Path, options: BatchOptions) -> _Plan:
    paths = find_audio(in_dir, options.pattern, options.recursive, exclude=out_dir)
    if not paths:
        what = f"files matching {options.pattern!r}" if options.pattern else "audio files"
        hint = "" if options.recursive else " (--recursive also searches sub-folders)"
        raise ConfigError(f"{in_dir}: no {what} found{hint}")
    jobs = [Job(i, str(p), p.stem, p.relative_to(in_dir).as_posix()) for i, p in enumerate(paths)]
    _warn_duplicate_uris(jobs)
    plan = _Plan(jobs, {}, [], {})
    durations = {} if options.overwrite else _previous_durations(out_dir)
    owner: dict[Path, Job] = {}
    for job in jobs:
        target = output_path(Path(job.audio), in_dir, out_dir)
        if target in owner:
            raise ConfigError(
                f"{owner[target].name} and {job.name} would both be written to {target}; "
                "rename one, or select one kind with --pattern"
            )
        owner[target] = job
        plan.targets[job.index] = target
        if not options.overwrite and is_up_to_date(Path(job.audio), target):
            plan.kept[job.index] = _skipped_result(job, target, durations.get(job.name))
        else:
            plan.todo.append(job)
    logger.info(
        "%d files in %s: %d to diarize, %d up to date",
        len(jobs),
        in_dir,
        len(plan.todo),
        len(plan.kept),
    )
    return plan


def _warn_duplicate_uris(jobs: list[Job]) -> None:
    seen: dict[str, str] = {}
    for job in jobs:
        if job.uri in seen:
            logger.warning(
                "%s and %s share the file id %r: their turns share it in %s too",
                seen[job.uri],
                job.name,
                job.uri,
                COMBINED_RTTM,
            )
        else:
            seen[job.uri] = job.name


def _start(
    todo: list[Job], options: BatchOptions, run_options: RunOptions
) -> tuple[Iterable[tuple[Job, FileResult]], dict[str, Any]]:
    """Choose and start the back end; returns its result stream and what it is."""
    cores = usable_cores()
    num_workers = max(1, min(options.jobs or cores, len(todo)))
    num_threads = options.threads or max(1, cores // num_workers)
    info: dict[str, Any] = {"jobs": num_workers, "threads_per_job": num_threads}
    if options.scheduler is not None:
        _require_distributed()
        local = options.scheduler == "local"
        if local:  # fail here on a bad model, before the cluster starts
            _build_pipeline(run_options)
        if local:  # each worker takes its share of os.cpu_count() (see _dask_pipeline)
            info["backend"] = "dask-local"
            info["threads_per_job"] = max(1, (os.cpu_count() or 1) // num_workers)
        else:  # the cluster's size and each worker's threads are its own
            info = {"backend": f"dask {options.scheduler}"}
        return _run_dask(todo, run_options, options.scheduler, num_workers), info
    # Fail fast, before any worker starts, on a bad config or model; one worker reuses it
    # (its ONNX Runtime sessions take the threads of a job).
    with _encoder_threads(num_threads):
        pipeline = _build_pipeline(run_options)
    if num_workers == 1:
        info["backend"] = "in-process"
        return _run_in_process(todo, pipeline, num_threads), info
    info["backend"] = "process-pool"
    return _run_process_pool(todo, run_options, num_workers, num_threads), info


def _collect(
    stream: Iterable[tuple[Job, FileResult]],
    plan: _Plan,
    progress: bool,
    started: float,
    on_result: Callable[[FileResult], None] | None,
) -> dict[int, FileResult]:
    """Write each RTTM as its result arrives; a progress bar counts files, audio and RTF."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    results: dict[int, FileResult] = {}
    audio_seconds = 0.0
    bar = _progress_bar(len(plan.todo), progress)
    try:
        redirect = logging_redirect_tqdm() if progress else contextlib.nullcontext()
        with redirect:  # log lines go above the bar, not through it
            for job, result in stream:
                if result.status == "ok":
                    _write(plan.targets[job.index], result.rttm or "")
                    audio_seconds += result.duration or 0.0
                else:
                    logger.warning("%s", result.error)
                    # An RTTM from an earlier run of this file is no longer its result.
                    plan.targets[job.index].unlink(missing_ok=True)
                result.rttm = None
                results[job.index] = result
                if on_result is not None:
                    on_result(result)
                if audio_seconds > 0:
                    rtf = (time.perf_counter() - started) / audio_seconds
                    bar.set_postfix_str(f"{audio_seconds / 3600:.2f} h audio, RTF {rtf:.3f}")
                bar.update(1)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # stops the workers when interrupted
        bar.close()
    return results


def run_batch(
    in_dir: Path,
    out_dir: Path,
    options: BatchOptions,
    run_options: RunOptions,
    on_result: Callable[[FileResult], None] | None = None,
) -> BatchReport:
    """Diarize every audio file of ``in_dir`` into ``out_dir`` (see the module docstring).

    A file that fails is recorded (status ``failed`` and its error) and the others go on.
    Raises ``DiarizeError`` only for problems that stop the whole batch (no input files,
    a bad configuration, an unloadable model, an unreachable scheduler, outputs of another
    configuration in ``out_dir``, an output folder that cannot be written or that another
    batch is writing to). ``KeyboardInterrupt`` (and ``Terminated``) stops the workers and
    propagates; every file written stays valid and a new run resumes.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    started = time.perf_counter()
    start_time = datetime.now(UTC).astimezone()
    if options.jobs is not None and options.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {options.jobs}")
    if options.threads is not None and options.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {options.threads}")
    with _output_folder(out_dir):  # checked and locked before any work
        return _run_locked(in_dir, out_dir, options, run_options, on_result, started, start_time)


def _run_locked(
    in_dir: Path,
    out_dir: Path,
    options: BatchOptions,
    run_options: RunOptions,
    on_result: Callable[[FileResult], None] | None,
    started: float,
    start_time: datetime,
) -> BatchReport:
    plan = _plan(in_dir, out_dir, options)
    config_text = _config_text(run_options)
    _check_previous_config(out_dir, config_text, len(plan.kept))
    info: dict[str, Any] = {"backend": None, "jobs": 0}
    stream: Iterable[tuple[Job, FileResult]] = ()
    if plan.todo:
        stream, info = _start(plan.todo, options, run_options)
    _write(out_dir / CONFIG_TOML, config_text)
    results = dict(plan.kept)
    results.update(_collect(stream, plan, options.progress and bool(plan.todo), started, on_result))

    ordered = [results[job.index] for job in plan.jobs]
    done = [plan.targets[job.index] for job in plan.jobs if results[job.index].status != "failed"]
    _write(out_dir / COMBINED_RTTM, "".join(p.read_text(encoding="utf-8") for p in done))
    audio_seconds = sum(r.duration or 0.0 for r in ordered if r.status == "ok")
    wall = time.perf_counter() - started
    summary = {
        "input": str(in_dir),
        "output": str(out_dir),
        "started": start_time.isoformat(timespec="seconds"),
        "num_files": len(ordered),
        "ok": sum(r.status == "ok" for r in ordered),
        "skipped": sum(r.status == "skipped" for r in ordered),
        "failed": sum(r.status == "failed" for r in ordered),
        "audio_seconds": round(audio_seconds, 3),
        "wall_seconds": round(wall, 3),
        "rtf": round(wall / audio_seconds, 5) if audio_seconds > 0 else None,
        **info,
        "model": config_text.splitlines()[0].removeprefix("# model: "),
        "config": CONFIG_TOML,
    }
    report = BatchReport(files=ordered, summary=summary)
    _write(out_dir / REPORT_JSON, report.to_json())
    _write(out_dir / REPORT_CSV, report.to_csv())
    return report
