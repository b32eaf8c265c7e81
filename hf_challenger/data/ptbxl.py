"""PTB-XL: 12-lead, 10-second ECGs with multi-label SCP-ECG statements (Wagner et al. 2020).

Source: ``data_dir`` is the PhysioNet folder of PTB-XL (https://physionet.org/content/ptb-xl/),
holding ``ptbxl_database.csv``, ``scp_statements.csv`` and ``records100/``
(``sampling_rate=100``, default, column ``filename_lr``) or ``records500/``
(``sampling_rate=500``, column ``filename_hr``), read with ``wfdb``. There is
no canonical PTB-XL dataset on the Hugging Face Hub, so ``data_dir`` is
required.

Labels follow the PTB-XL benchmark of Strodthoff et al. (2020). Each record's
``scp_codes`` (a dict literal, parsed with ``ast.literal_eval``) lists
statements with a likelihood; as in that benchmark the likelihood is ignored
and every listed statement counts. ``task``:

- ``"all"``: every statement (71 labels);
- ``"diagnostic"``: statements with ``diagnostic == 1`` in ``scp_statements.csv`` (44);
- ``"subdiagnostic"``: their ``diagnostic_subclass`` (23);
- ``"superdiagnostic"``: their ``diagnostic_class`` (5: CD, HYP, MI, NORM, STTC);
- ``"form"``: statements with ``form == 1`` (19);
- ``"rhythm"``: statements with ``rhythm == 1`` (12).

The label names are the sorted values defined by ``scp_statements.csv`` for
the task (counts above on the official file), so they do not depend on which
records are present. Records with no label for the task are dropped by this
policy (as in the benchmark); the counts per split are kept in the metadata
(``dropped``) and reported in a warning on every load. A record file that is
missing or does not hold 12 leads x 10 s at the sampling rate is an error
naming it.

Splits: ``strat_fold`` 1-8 train, 9 validation, 10 test (the recommended folds).

Standardisation (``standardization``), fitted on the TRAIN split only:
``"channel"`` (default) subtracts each lead's mean and divides by its
standard deviation over all training samples and time steps;
``"global"`` uses one mean/std over all leads (the benchmark's
``StandardScaler`` on the flattened signals); ``"none"`` keeps millivolts.
The statistics are stored in the metadata (``standardization``) so new
recordings can be scaled the same way.

Columns: ``input_values`` float32 ``[12, 10 * sampling_rate]`` (leads I, II,
III, aVR, aVL, aVF, V1-V6 in file order), ``labels`` float32 multi-hot ``[C]``.
Converted records are cached (see :mod:`hf_challenger.data._common`); the
first conversion shows a progress bar.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from datasets import Array2D, Dataset, DatasetDict, Features, List, Value
from tqdm.auto import tqdm

from ._common import (
    cached_dataset_dict,
    check_choice,
    file_signature,
    get_metadata,
    require_file,
    warn_caller,
    write_split,
)

TASKS = ("all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm")
SAMPLING_RATES = (100, 500)
STANDARDIZATIONS = ("channel", "global", "none")
N_LEADS = 12
DURATION_S = 10
TRAIN_FOLDS, VALIDATION_FOLDS, TEST_FOLDS = tuple(range(1, 9)), (9,), (10,)
_BATCH = 256


def read_tables(folder: Path):
    """``(database, statements)``: ``ptbxl_database.csv`` indexed by ``ecg_id`` with ``scp_codes`` parsed to
    dicts, and ``scp_statements.csv`` indexed by statement code."""
    import pandas as pd

    database_path = require_file(folder / "ptbxl_database.csv", "PTB-XL's record table (PhysioNet folder)")
    statements_path = require_file(folder / "scp_statements.csv", "PTB-XL's SCP statement table (PhysioNet folder)")
    database = _read_csv(pd, database_path)
    statements = _read_csv(pd, statements_path)
    needed = {"ecg_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr"}
    if not needed <= set(database.columns):
        raise ValueError(
            f"{database_path} lacks column(s) {sorted(needed - set(database.columns))} (has {list(database.columns)}); "
            "expected PTB-XL's ptbxl_database.csv"
        )
    repeated = database["ecg_id"][database["ecg_id"].duplicated()].tolist()
    if repeated:
        raise ValueError(f"{database_path}: ecg_id {repeated[:5]} appear(s) more than once")
    database = database.set_index("ecg_id")
    statements = statements.set_index(statements.columns[0])
    needed = {"diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"}
    if not needed <= set(statements.columns):
        raise ValueError(f"{statements_path} lacks column(s) {sorted(needed - set(statements.columns))}")

    def parse(ecg_id: int, text: str) -> dict:
        try:
            codes = ast.literal_eval(text)
        except (ValueError, SyntaxError) as error:
            raise ValueError(f"{database_path}: ecg_id {ecg_id} has unparsable scp_codes {text!r}") from error
        if not isinstance(codes, dict):
            raise ValueError(f"{database_path}: ecg_id {ecg_id} scp_codes {text!r} is not a dict")
        unknown = sorted(set(codes) - set(statements.index))
        if unknown:
            raise ValueError(f"{database_path}: ecg_id {ecg_id} uses statements {unknown} absent from {statements_path}")
        return codes

    database["scp_codes"] = [parse(i, text) for i, text in zip(database.index, database["scp_codes"])]
    return database, statements


def _read_csv(pd, path: Path):
    """``pandas.read_csv(path)``, its parser errors (empty file, ragged rows, bad bytes) naming the file."""
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path} is not a readable CSV table ({type(error).__name__}: {error})") from error


def task_mapping(statements, task: str) -> dict[str, str]:
    """Statement code -> task label for every statement that contributes to ``task``."""
    check_choice("task", task, TASKS)
    if task == "all":
        return {code: code for code in statements.index}
    if task in ("form", "rhythm"):
        return {code: code for code in statements.index[statements[task] == 1.0]}
    diagnostic = statements[statements["diagnostic"] == 1.0]
    if task == "diagnostic":
        return {code: code for code in diagnostic.index}
    column = "diagnostic_subclass" if task == "subdiagnostic" else "diagnostic_class"
    return {code: str(value) for code, value in diagnostic[column].items() if isinstance(value, str)}


def aggregate(codes: Sequence[dict], mapping: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """Label names (sorted) and multi-hot float32 ``[N, C]`` of the records' statement dicts under ``mapping``."""
    names = sorted(set(mapping.values()))
    index = {name: i for i, name in enumerate(names)}
    hot = np.zeros((len(codes), len(names)), dtype=np.float32)
    for row, record in enumerate(codes):
        hot[row, [index[mapping[c]] for c in record if c in mapping]] = 1.0
    return names, hot


def read_record(path: Path, sampling_rate: int) -> np.ndarray:
    """Signal float32 ``[12, 10 * sampling_rate]`` of the WFDB record at ``path`` (without extension).

    The digital samples are checked against the header before they are scaled to millivolts: each
    lead's checksum (sum of its samples mod 2^16) and first sample, where the header gives them (the
    PhysioNet files do), so a ``.dat`` overwritten with other bytes is an error naming the record and
    the leads, not noise. A missing-sample marker (NaN after scaling) is an error too.
    """
    import wfdb

    try:
        record = wfdb.rdrecord(str(path), physical=False)
    except (OSError, ValueError, IndexError, TypeError) as error:
        raise ValueError(f"cannot read WFDB record {path} (.hea/.dat): {error}") from error
    digital = record.d_signal
    expected = (DURATION_S * sampling_rate, N_LEADS)
    if digital.shape != expected or record.fs != sampling_rate:
        raise ValueError(
            f"WFDB record {path} holds {digital.shape[1]} leads x {digital.shape[0]} samples at {record.fs} Hz; "
            f"expected {N_LEADS} leads x {expected[0]} samples at {sampling_rate} Hz"
        )
    names = record.sig_name or [str(i) for i in range(N_LEADS)]
    faults = []
    if record.checksum is not None:
        faults += [names[i] for i, (got, want) in enumerate(zip(record.calc_checksum(), record.checksum)) if got != want]
    if record.init_value is not None:
        faults += [names[i] for i, want in enumerate(record.init_value) if int(digital[0, i]) != want and names[i] not in faults]
    if faults:
        raise ValueError(
            f"WFDB record {path}: the samples of lead(s) {faults} in its .dat file do not match the checksum/first "
            "sample in its .hea header, so the .dat file is corrupt or belongs to another record; download the "
            "record again from PhysioNet"
        )
    signal = record.dac()
    missing = ~np.isfinite(signal).all(axis=0)
    if missing.any():
        raise ValueError(
            f"WFDB record {path}: lead(s) {[names[i] for i in np.flatnonzero(missing)]} hold missing-sample markers "
            "(NaN after scaling); this loader needs complete recordings"
        )
    return np.ascontiguousarray(signal.T, dtype=np.float32)


def _raw_batches(paths: Sequence[Path], labels: np.ndarray, sampling_rate: int, bar) -> Iterator[dict]:
    for start in range(0, len(paths), _BATCH):
        signals = []
        for path in paths[start : start + _BATCH]:
            signals.append(read_record(path, sampling_rate))
            bar.update(1)
        yield {"input_values": np.stack(signals), "labels": labels[start : start + _BATCH]}


def _moments(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-lead sum and sum of squares (float64 ``[12]``) and the count of time steps in ``dataset``."""
    total, squares, count = np.zeros(N_LEADS), np.zeros(N_LEADS), 0
    view = dataset.with_format("numpy")
    for start in range(0, len(dataset), _BATCH):
        block = np.asarray(view[start : start + _BATCH]["input_values"], dtype=np.float64)
        total += block.sum(axis=(0, 2))
        squares += np.square(block).sum(axis=(0, 2))
        count += block.shape[0] * block.shape[2]
    return total, squares, count


def fit_standardization(train: Dataset, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std float64 ``[12]`` of the training signals (equal across leads for ``"global"``)."""
    total, squares, count = _moments(train)
    if kind == "global":
        total, squares, count = np.full(N_LEADS, total.sum()), np.full(N_LEADS, squares.sum()), count * N_LEADS
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return mean, np.where(std > 0, std, 1.0)


def _standardized_batches(dataset: Dataset, mean: np.ndarray, std: np.ndarray) -> Iterator[dict]:
    view = dataset.with_format("numpy")
    shift = mean.astype(np.float32)[None, :, None]
    scale = (1.0 / std).astype(np.float32)[None, :, None]
    for start in range(0, len(dataset), _BATCH):
        block = view[start : start + _BATCH]
        yield {"input_values": (block["input_values"] - shift) * scale, "labels": block["labels"]}


def load_ptbxl(
    *,
    data_dir: str | os.PathLike | None = None,
    task: str = "superdiagnostic",
    sampling_rate: int = 100,
    standardization: str = "channel",
    cache_dir: str | os.PathLike | None = None,
) -> DatasetDict:
    """PTB-XL as train/validation/test with ``input_values`` ``[12, 10 * sampling_rate]`` and multi-hot ``labels``."""
    check_choice("task", task, TASKS)
    check_choice("sampling_rate", sampling_rate, SAMPLING_RATES)
    check_choice("standardization", standardization, STANDARDIZATIONS)
    if data_dir is None:
        raise ValueError(
            "PTB-XL has no canonical Hugging Face Hub dataset: download it from "
            "https://physionet.org/content/ptb-xl/ and pass data_dir=<folder with ptbxl_database.csv>"
        )
    folder = Path(data_dir)
    database, statements = read_tables(folder)
    names, hot = aggregate(list(database["scp_codes"]), task_mapping(statements, task))
    column = "filename_lr" if sampling_rate == 100 else "filename_hr"
    folds = database["strat_fold"].to_numpy()
    unknown_folds = sorted(set(folds) - set(range(1, 11)))
    if unknown_folds:
        raise ValueError(f"{folder / 'ptbxl_database.csv'}: strat_fold values {unknown_folds} outside 1..10")
    has_label = hot.any(axis=1)
    split_rows, dropped = {}, {}
    for split, chosen in (("train", TRAIN_FOLDS), ("validation", VALIDATION_FOLDS), ("test", TEST_FOLDS)):
        in_split = np.isin(folds, chosen)
        split_rows[split] = np.flatnonzero(in_split & has_label)
        dropped[split] = int((in_split & ~has_label).sum())
    empty = [split for split, rows in split_rows.items() if len(rows) == 0]
    if empty:
        raise ValueError(
            f"{folder / 'ptbxl_database.csv'} gives no labelled records for split(s) {empty} with task={task!r} "
            f"(train = strat_fold 1-8, validation = 9, test = 10)"
        )
    paths = {split: [folder / database[column].iloc[i] for i in rows] for split, rows in split_rows.items()}
    record_files = [p.with_suffix(ext) for split_paths in paths.values() for p in split_paths for ext in (".hea", ".dat")]
    missing = [str(p) for p in record_files if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} PTB-XL record file(s) missing under {folder} for sampling_rate={sampling_rate}, "
            f"e.g. {missing[:3]}; expected records{sampling_rate}/ as in ptbxl_database.csv column {column}"
        )
    options = {"task": task, "sampling_rate": sampling_rate, "standardization": standardization}
    tables = [folder / "ptbxl_database.csv", folder / "scp_statements.csv"]
    key_parts = {**options, "files": file_signature(tables + record_files)}
    features = Features(
        {
            "input_values": Array2D((N_LEADS, DURATION_S * sampling_rate), "float32"),
            "labels": List(Value("float32"), length=len(names)),
        }
    )

    def build(scratch: Path) -> DatasetDict:
        metadata = {"benchmark": "ptbxl", "options": options, "label_names": names,
                    "problem_type": "multi_label_classification", "dropped": dropped}
        raw = {}
        with tqdm(total=sum(map(len, paths.values())), desc=f"reading PTB-XL records ({sampling_rate} Hz)", unit="record") as bar:
            for split, rows in split_rows.items():
                batches = _raw_batches(paths[split], hot[rows], sampling_rate, bar)
                raw[split] = write_split(scratch, f"raw_{split}", features, metadata, batches)
        if standardization == "none":
            mean, std = np.zeros(N_LEADS), np.ones(N_LEADS)
        else:
            mean, std = fit_standardization(raw["train"], standardization)
        metadata["standardization"] = {"kind": standardization, "mean": mean.tolist(), "std": std.tolist()}
        return DatasetDict(
            {split: write_split(scratch, split, features, metadata, _standardized_batches(data, mean, std))
             for split, data in raw.items()}
        )

    result = cached_dataset_dict("ptbxl", key_parts, build, cache_dir)
    dropped_counts = get_metadata(result)["dropped"]
    if any(dropped_counts.values()):
        warn_caller(
            f"ptbxl task={task!r}: dropped records without a label for the task "
            f"(train {dropped_counts['train']}, validation {dropped_counts['validation']}, "
            f"test {dropped_counts['test']}), as in the PTB-XL benchmark",
        )
    return result
