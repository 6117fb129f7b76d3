"""The run format every run writes, simulator or LM, and the figures read.

A run folder holds

    config.json   the resolved configuration (plus `kind`: "simulator" or "llm"), as it ran
    metrics.csv   tidy rows `step, examples_seen, probe_type, metric, value`
    summary.json  what the command printed, as one JSON object
    prompts.csv   per-probe-prompt rows `step, probe_type, prompt, logp` (LM runs): the summed
                  log π(y|x) of each probe prompt, `prompt` its `prompt_id`, so that any verdict
                  over prompts (`trends`' intervals) can be recomputed from the run folder

and an LM training run (`RUN_FILES`), whoever trained it (the native trainer, `run --backend
trl`, `LearningDynamicsCallback` in a user's trainer), the same files and `summary.json` keys
(`SUMMARY_KEYS`):

    mass.jsonl    per evaluation, the tokens that gained the most mean probability along y⁺
    summary.json  backend ("native", "trl", "callback"), steps, steps_run, wall_seconds,
                  evaluations (the steps evaluated), squeezing ({detected, step}: mean
                  log π(y⁺) below its start while y* rises, Sec. 4.2), mass_gained (the last
                  evaluation's, as in mass.jsonl), inputs (what the loads kept and skipped and
                  what truncation cut: `data` where a command loaded it, `probes`, `truncation`),
                  phases (the phases it ran, [{loss, data, first_step, steps}], the method
                  registry's `common.methods`; `run_phases` reads them, or plans them from
                  config.json for a run that has none)

Beside them, by option: checkpoint.pt and reference_<phase>.pt (native, `--checkpoint`, the
default: what `--resume` reads; config.json's `checkpoint` says whether they were written),
curves.png (drawn by the CLI), arrays/ (`--save-arrays`), model/ (`--save-model`), kernel.csv,
trajectory.csv, drift.json (`--track-kernel`).

`metric` is `logp` (the mean over probe examples of the summed log π(y|x): the paper's curves),
`logp_token` (the mean of the token mean) or one of `TOKEN_METRICS`, averaged over the response
positions: at each context χ with observed token y and softmax π,

    mass_outside_argmax  1 − max_v π(v|χ)          (falls as squeezing concentrates mass)
    one_minus_pi         1 − π(y|χ)
    residual_norm        ‖π(χ) − e_y‖₂             (the SFT residual's size)
    a_frobenius          ‖A(χ)‖_F = √(V‖π‖² + V − 2)

Runs are named `runs/<part>-<part>-…` unless `--out` says otherwise (`run_dir`). Rows are appended
and flushed one evaluation at a time, so an interrupted run keeps everything it wrote.

Every writer takes its folder with `claim_run_dir`: a folder holding another run is refused
unless `--resume` (the same config) or `--overwrite` (its files removed first), and a lock file
`.lock` (the holder's PID) makes a second process writing the same folder fail at once.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.methods import METHODS, plan

COLUMNS = ("step", "examples_seen", "probe_type", "metric", "value")
LOGP, LOGP_TOKEN = "logp", "logp_token"
TOKEN_METRICS = ("mass_outside_argmax", "one_minus_pi", "residual_norm", "a_frobenius")
CONFIG, METRICS, SUMMARY = "config.json", "metrics.csv", "summary.json"
PROMPTS = "prompts.csv"
PROMPT_COLUMNS = ("step", "probe_type", "prompt", "logp")
# what other commands write beside them (figures read them): predict, influence, --track-kernel
PREDICTIONS, INFLUENCE = "predictions.csv", "influence.csv"
KERNEL, TRAJECTORY, DRIFT = "kernel.csv", "trajectory.csv", "drift.json"
TRAIN = "train"  # probe_type of the training loss rows (metric `loss`)
MASS = "mass.jsonl"
RUN_FILES = (CONFIG, METRICS, PROMPTS, SUMMARY, MASS)  # every LM training run, whoever ran it
SUMMARY_KEYS = (
    "backend",
    "steps",
    "steps_run",
    "wall_seconds",
    "evaluations",
    "squeezing",
    "mass_gained",
    "inputs",
    "phases",
)

Row = tuple[str, str, float]  # (probe_type, metric, value) of one evaluation
PromptRow = tuple[str, str, float]  # (probe_type, prompt id, log π(y|x)) of one evaluation


def prompt_id(prompt: str) -> str:
    """A probe prompt's id in `prompts.csv`: the first 12 hex digits of the SHA-1 of its text, so
    that two runs are paired on the prompts they share, whatever order or subset each probed."""
    return hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]


def data_name(spec: str) -> str:
    """The data part of a run name: `synthetic` (or another name without a path), a data file's
    stem, or a hub dataset's name (`hub:trl-lib/ultrafeedback_binarized:train` →
    `ultrafeedback_binarized`)."""
    if spec.startswith("hub:"):
        return spec[4:].split(":")[0].rsplit("/", 1)[-1]
    return spec if spec == "synthetic" else Path(spec).stem


def planned_phases(config: dict) -> list[dict]:
    """The phases a run's config.json plans (`method`, `steps`, `sft_steps`), through the method
    registry, as summary.json's `phases` records them; [] for a method it does not know (a
    user's trainer under the callback)."""
    method = config.get("method")
    if method not in METHODS:
        return []
    return [p.record() for p in plan(method, config.get("steps") or 0, config.get("sft_steps"))]


def run_phases(folder: Path) -> list[dict]:
    """The phases a run ran: summary.json's `phases` as its writer recorded them, else (a run
    still going, or one written before runs recorded them) those its config.json plans
    (`planned_phases`). A summary.json that is not JSON is a `RunFileError`."""
    path = Path(folder) / SUMMARY
    if path.is_file():
        try:
            summary = json.loads(path.read_text())
        except ValueError as err:
            raise RunFileError(f"{path}: {err}") from None
        if isinstance(summary, dict) and "phases" in summary:
            return list(summary["phases"])
    return planned_phases(read_config(folder) or {})


def last_phase_start(phases: Sequence[dict]) -> int:
    """The step at which a run's last phase begins: 0 for one phase (or none known)."""
    return int(phases[-1]["first_step"]) if phases else 0


def write_summary(folder: Path, values: dict, phases: Sequence[dict]) -> None:
    """summary.json: `values` and the `phases` the writer ran (`common.methods.phase_record`
    each), over the keys the file already holds (the callback's, under `run --backend trl`)."""
    path = Path(folder) / SUMMARY
    before = json.loads(path.read_text()) if path.is_file() else {}
    write_json(path, {**before, **values, "phases": [dict(p) for p in phases]})


def run_files(root: Path, filename: str) -> list[Path]:
    """root/filename if it exists (one run folder), else every root/*/filename (a folder of
    runs), sorted by run name."""
    own = Path(root) / filename
    return [own] if own.is_file() else sorted(Path(root).glob(f"*/{filename}"))


def run_dir(out: str | None, *parts: str) -> Path:
    """`out` if given, else runs/<parts joined by '-'> (model paths reduced to their last name)."""
    if out:
        return Path(out)
    return Path("runs") / "-".join(Path(p).name for p in parts)


def write_json(path: Path, obj) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


LOCK = ".lock"
# What a resumed run may change: how it reports, where its folder now is (a moved folder
# resumes), and a larger --steps (the HF Trainer's resume_from_checkpoint with a larger
# max_steps), as long as the last phase starts where it did: the steps already taken then stay
# the same steps, since data order, warmup and evaluations depend on the step alone.
VOLATILE = ("resume", "overwrite", "json", "progress", "out")
_HELD: dict[Path, int] = {}  # folders this process holds → nesting depth (run_trl → callback)


def _holder(lock: Path) -> int | None:
    """The PID written in `lock` if that process is alive; None for a stale or unreadable lock."""
    try:
        pid = int(lock.read_text().strip())
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (OSError, ValueError) as err:
        return pid if isinstance(err, PermissionError) else None
    return pid


def _just_created(lock: Path, seconds: float = 5.0) -> bool:
    """An empty lock file younger than `seconds`: created, its PID not yet written."""
    try:
        stat = lock.stat()
    except OSError:
        return False
    return stat.st_size == 0 and time.time() - stat.st_mtime < seconds


def _lock(folder: Path) -> None:
    """Create folder/.lock holding our PID (O_CREAT | O_EXCL: one winner); a live holder is a
    one-line error naming its PID, a dead one's lock is taken over."""
    lock = folder / LOCK
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid = _holder(lock)
            if pid is not None and pid != os.getpid():  # our own PID here: a claim left unreleased
                raise UserError(
                    f"{folder} is being written by process {pid}; wait for it or choose "
                    "another --out"
                ) from None
            if pid is None and _just_created(lock):  # its holder has not written its PID yet
                raise UserError(f"{folder} is being claimed by another process") from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        return
    raise UserError(f"{folder}: another process took its lock; choose another --out")


def _release(folder: Path) -> None:
    depth = _HELD.get(folder, 0) - 1
    if depth > 0:
        _HELD[folder] = depth
        return
    _HELD.pop(folder, None)
    if _holder(folder / LOCK) == os.getpid():
        with contextlib.suppress(OSError):
            (folder / LOCK).unlink()


atexit.register(lambda: [_release(f) for f in list(_HELD)])


def read_config(folder: Path) -> dict | None:
    """folder/config.json as a dict; None when it is missing or unreadable."""
    try:
        config = json.loads((Path(folder) / CONFIG).read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def _refusal(
    folder: Path, config: dict, resume: bool, overwrite: bool, resumable: bool = True
) -> str | None:
    """Why `folder` may not be written with `config` (None when it may)."""
    entries = [p.name for p in folder.iterdir() if p.name != LOCK]
    if not entries:
        return None
    stored = read_config(folder)
    if not (folder / CONFIG).is_file():  # not ours: never written into, never removed
        what = (
            f"--resume: {folder} holds no {CONFIG} to resume"
            if resume
            else f"{folder} is not empty and holds no {CONFIG}"
        )
        return f"{what}: not a run folder; choose another --out"
    if overwrite:
        return None
    if not resume:
        kind = (stored or {}).get("kind")
        return (
            f"{folder} already holds {f'the output of `{kind}`' if kind else 'a run'} "
            f"({CONFIG}); pass {'--resume to continue it, ' * resumable}--overwrite to replace "
            "it, or another --out"
        )
    if stored is None:
        return (
            f"--resume: {folder / CONFIG} is not readable JSON; pass --overwrite or another --out"
        )
    changed = resume_changes(stored, config)
    if changed:
        return (
            f"--resume with a different configuration ({', '.join(changed)}) than {folder / CONFIG}"
        )
    return None


def resume_changes(before: dict, now: dict) -> list[str]:
    """The settings of `now` that differ from the stored `before` in a way --resume refuses
    (all but `VOLATILE`, and a larger `steps` that keeps the last phase's start)."""
    keys = (now.keys() | before.keys()) - set(VOLATILE)
    changed = sorted(k for k in keys if before.get(k) != now.get(k))
    extends = now.get("steps", 0) > before.get("steps", 0) and last_phase_start(
        planned_phases(before)
    ) == last_phase_start(planned_phases(now))
    return [k for k in changed if not (k == "steps" and extends)]


def _empty(folder: Path) -> None:
    """Remove everything in a run folder but its lock (--overwrite)."""
    for entry in folder.iterdir():
        if entry.name == LOCK:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class RunClaim(contextlib.AbstractContextManager):
    """A run folder held by this process: `with claim_run_dir(...) as out:` releases its lock."""

    def __init__(self, path: Path, folder: Path, *, created: bool, fresh: bool):
        self.path, self._folder, self._created, self._fresh = path, folder, created, fresh

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, kind, *exc) -> None:
        """A fresh folder whose writer failed before writing more than config.json is left as it
        was found (a bad flag or data file leaves no half run behind to refuse the next one)."""
        left = {p.name for p in self._folder.iterdir()} if self._folder.is_dir() else set()
        if kind is not None and self._fresh and left <= {CONFIG, LOCK}:
            with contextlib.suppress(OSError):
                (self._folder / CONFIG).unlink(missing_ok=True)
        _release(self._folder)
        if kind is not None and self._fresh and self._created:
            with contextlib.suppress(OSError):
                self._folder.rmdir()  # only if empty


def claim_run_dir(
    path,
    config: dict | None,
    resume: bool = False,
    overwrite: bool = False,
    resumable: bool = True,
) -> RunClaim:
    """Take run folder `path` for a writer whose configuration is `config` (→ config.json).

    A folder that is missing or empty is created; one holding a run (its config.json) is refused
    with one line unless `resume` (its stored config equals `config` but for `VOLATILE` keys) or
    `overwrite` (everything in it, references and checkpoints included, is removed before the new
    config.json is written). A non-empty folder without config.json is never written into. The
    lock makes a second process fail at once; a folder this process already holds (an outer
    writer's, e.g. `run --backend trl` for its callback) is taken again without checks;
    `config=None` takes the lock alone (a command adding its file to a finished run);
    `resumable=False`: a writer without --resume (the refusal suggests --overwrite only)."""
    if resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    folder = Path(path).resolve()
    if folder in _HELD:
        _HELD[folder] += 1
        return RunClaim(Path(path), folder, created=False, fresh=False)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    _lock(folder)
    _HELD[folder] = 1
    fresh = overwrite or not any(p.name != LOCK for p in folder.iterdir())
    if config is None:  # a reader adding its file to a finished run (`drift`): the lock only
        return RunClaim(Path(path), folder, created=False, fresh=False)
    try:
        reason = _refusal(folder, config, resume, overwrite, resumable)
        if reason:
            raise UserError(reason)
        if overwrite:
            _empty(folder)
        write_json(folder / CONFIG, config)
    except OSError as err:
        _release(folder)
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    except UserError:
        _release(folder)
        raise
    return RunClaim(Path(path), folder, created=created, fresh=fresh)


class _TidyLog:
    """Append-only writer of a tidy CSV whose first column is `step`; each `append` is flushed to
    disk before returning. `keep_through=s` (resume) keeps the rows with step ≤ s and drops the
    rest; None starts anew."""

    columns: tuple[str, ...]

    def __init__(self, path: Path, keep_through: int | None = None):
        kept = []
        if keep_through is not None and path.is_file():
            kept = [
                r
                for r in read_metrics(path)
                if complete(r, self.columns) and int(r["step"]) <= keep_through
            ]
        self.path = path
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(self.columns)
            writer.writerows([r[c] for c in self.columns] for r in kept)

    def _append(self, rows: Iterable[Sequence]) -> None:
        with self.path.open("a", newline="") as handle:
            csv.writer(handle).writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())


class MetricsLog(_TidyLog):
    """`metrics.csv`: one evaluation's (probe_type, metric, value) rows at a time."""

    columns = COLUMNS

    def append(self, step: int, examples_seen: int, rows: Iterable[Row]) -> None:
        self._append(
            (step, examples_seen, kind, metric, repr(float(value))) for kind, metric, value in rows
        )


class PromptLog(_TidyLog):
    """`prompts.csv`: one evaluation's (probe_type, prompt id, log π) rows at a time."""

    columns = PROMPT_COLUMNS

    def append(self, step: int, rows: Iterable[PromptRow]) -> None:
        self._append((step, kind, prompt, repr(float(logp))) for kind, prompt, logp in rows)


class RunLogs:
    """An LM run's two logs, `metrics.csv` and `prompts.csv`, appended one evaluation at a time
    (prompts first: a run killed in between keeps metrics.csv's last evaluation complete)."""

    def __init__(self, folder: Path, keep_through: int | None = None):
        self.metrics = MetricsLog(Path(folder) / METRICS, keep_through)
        self.prompts = PromptLog(Path(folder) / PROMPTS, keep_through)

    def append(
        self, step: int, examples_seen: int, rows: Iterable[Row], prompt_rows: Iterable[PromptRow]
    ) -> None:
        self.prompts.append(step, prompt_rows)
        self.metrics.append(step, examples_seen, rows)

    def evaluation(
        self,
        step: int,
        examples_seen: int,
        probe_rows: Iterable[Row],
        prompt_rows: Iterable[PromptRow],
        losses: Sequence[float],
        extra: Iterable[Row] = (),
    ) -> list[Row]:
        """Append one evaluation whoever trains: the probes' rows, the mean training loss since
        the previous evaluation (`TRAIN`, `loss`; none at step 0) and any `extra` rows (the
        kernel tracker's) → the rows written."""
        rows = evaluation_rows(probe_rows, losses, extra)
        self.append(step, examples_seen, rows, prompt_rows)
        return rows


def evaluation_rows(
    probe_rows: Iterable[Row], losses: Sequence[float], extra: Iterable[Row] = ()
) -> list[Row]:
    """An evaluation's metrics rows: the probes' rows, then (`TRAIN`, `loss`, the mean of
    `losses`) when steps were taken since the previous evaluation, then `extra`."""
    rows = list(probe_rows)
    if len(losses):
        rows.append((TRAIN, "loss", float(np.mean(losses))))
    return rows + list(extra)


def complete(row: dict, columns: Sequence[str] = COLUMNS) -> bool:
    """A row with every column filled and a numeric step: not the torn last line of a process
    killed while it wrote."""
    return all(row.get(c) not in (None, "") for c in columns) and row["step"].isdigit()


def write_metrics(path: Path, rows: Iterable[Sequence]) -> None:
    """Write complete (step, examples_seen, probe_type, metric, value) rows at once."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows((s, e, p, m, repr(float(v))) for s, e, p, m, v in rows)


def read_metrics(path: Path) -> list[dict[str, str]]:
    """The rows of a `metrics.csv` as dicts of strings."""
    with Path(path).open(newline="") as handle:
        return list(csv.DictReader(handle))


# rows whose value may be NaN by definition: the kernel tracker's drift correlation is undefined
# when either relative-influence matrix is constant (one tracked update of one sign)
MAY_BE_UNDEFINED = ("kernel",)


class RunFileError(UserError, ValueError):
    """A run file that exists but cannot be trusted as its format says (`file:line: why`)."""


def load_metrics(path) -> list[tuple[int, int, str, str, float]]:
    """The one reader of a run's metrics.csv for everything that reports on it (figures,
    `trends`, `drift`, the CLI's closing line): typed (step, examples_seen, probe_type, metric,
    value) rows. A torn last line (a process killed while it wrote) is dropped; anything else
    that cannot be trusted is a `RunFileError` naming the file and line: a missing column, an
    incomplete row, a non-integer step, a non-numeric or non-finite value (NaN is allowed only
    in `MAY_BE_UNDEFINED` rows), a second row for the
    same (step, probe_type, metric), or a step smaller than the one before it."""
    path = Path(path)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise RunFileError(f"{path}: missing column(s) {', '.join(missing)}")
        numbered = [(reader.line_num, row) for row in reader]
    if numbered and not complete(numbered[-1][1]):
        numbered.pop()  # the torn last line of a killed writer
    rows, seen, last = [], set(), 0
    for line, r in numbered:
        where = f"{path}:{line}"
        if not complete(r) or not r["examples_seen"].isdigit():
            raise RunFileError(f"{where}: incomplete row or non-integer step/examples_seen")
        try:
            value = float(r["value"])
        except ValueError:
            value = math.nan
        undefined = math.isnan(value) and r["probe_type"] in MAY_BE_UNDEFINED
        if not math.isfinite(value) and not undefined:
            raise RunFileError(f"{where}: value {r['value']!r} is not a finite number")
        step, key = int(r["step"]), (int(r["step"]), r["probe_type"], r["metric"])
        if step < last:
            raise RunFileError(f"{where}: step {step} after step {last} (steps must not decrease)")
        if key in seen:
            raise RunFileError(f"{where}: a second row for step {step}, {key[1]}, {key[2]}")
        seen.add(key)
        last = step
        rows.append((step, int(r["examples_seen"]), r["probe_type"], r["metric"], value))
    if not rows:
        raise RunFileError(f"{path}: no rows")
    return rows
