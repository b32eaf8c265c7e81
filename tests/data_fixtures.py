"""Writers of small data sets in the upstream formats, for the loader tests (tests/test_data_*.py)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


# ---------------------------------------------------------------- MNIST IDX

def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    """Write a uint8 array as an IDX file (big-endian header), gzipped when ``gz``."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_mnist(folder: Path, n_train: int = 60, n_test: int = 20, gz: bool = True, seed: int = 0):
    """Four IDX files with random digits; every class appears n/10 times. Returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
        arrays[prefix] = (images, labels)
    return arrays


# ------------------------------------------------------------ CIFAR-10 pickles

def write_cifar(folder: Path, per_batch: int = 20, seed: int = 0, protocol: int = 2):
    """data_batch_1..5 and test_batch as pickles (protocol 2 like the official python version)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in np.arange(per_batch) % 10]
        content = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                   b"filenames": [f"img_{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(content, protocol=protocol))
        written[name] = (data, labels)
    return written


#: Appended to by the malicious pickle's payload when something unpickles it unrestricted.
PAYLOAD_RUNS: list[int] = []


class _RunsCode:
    """Unpickling this calls builtins.exec on code: what a tampered batch could do (here: harmless)."""

    def __reduce__(self):
        return (exec, ("import data_fixtures; data_fixtures.PAYLOAD_RUNS.append(1)",))


def write_malicious_pickle(path: Path) -> None:
    """A batch-shaped pickle whose labels entry runs code when unpickled with the ordinary unpickler."""
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": _RunsCode()}, protocol=2))


# ------------------------------------------------------- 20 Newsgroups bydate

NG_GROUPS = ("alt.atheism", "comp.graphics", "sci.space")


def ng_message(group: str, index: int, body: str) -> str:
    """A message with a header block naming the group, then a body."""
    return f"From: user{index}@example.org\nSubject: note {index}\nNewsgroups: {group}\n\n{body}\n"


def write_bydate(root: Path, per_group: int = 4) -> None:
    """20news-bydate-train/ and -test/ with NG_GROUPS (per_group train and 2 test messages per group).

    Extra: two UTF-8 train messages "caf\u00e9 orbit" in sci.space; in the test folder the
    same text encoded Latin-1 (sci.space/2000) and a CR-only message "pixel render"
    (comp.graphics/2001).
    """
    words = {"alt.atheism": "god belief", "comp.graphics": "pixel render", "sci.space": "orbit rocket"}
    for split, count in (("train", per_group), ("test", 2)):
        for group in NG_GROUPS:
            folder = root / f"20news-bydate-{split}" / group
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                body = f"{words[group]} message number {i} common words here"
                (folder / str(1000 + i)).write_bytes(ng_message(group, i, body).encode("utf-8"))
    for i in (1, 2):
        message = ng_message("sci.space", 90 + i, "caf\u00e9 orbit").encode("utf-8")
        (root / "20news-bydate-train" / "sci.space" / str(3000 + i)).write_bytes(message)
    latin = ng_message("sci.space", 99, "caf\u00e9 orbit").encode("latin-1")
    (root / "20news-bydate-test" / "sci.space" / "2000").write_bytes(latin)
    cr = ng_message("comp.graphics", 98, "pixel render").replace("\n", "\r").encode("ascii")
    (root / "20news-bydate-test" / "comp.graphics" / "2001").write_bytes(cr)


# -------------------------------------------------------------- Reuters SGML

def reuters_document(new_id: int, split: str, topics: list[str], title: str, body: str, has_topics: str = "YES") -> str:
    """One <REUTERS> element in the Distribution 1.0 layout."""
    ds = "".join(f"<D>{t}</D>" for t in topics)
    return (
        f'<REUTERS TOPICS="{has_topics}" LEWISSPLIT="{split}" CGISPLIT="TRAINING-SET" OLDID="{new_id + 5000}" '
        f'NEWID="{new_id}">\n<DATE>26-FEB-1987 15:01:01.79</DATE>\n<TOPICS>{ds}</TOPICS>\n'
        f"<PLACES><D>usa</D></PLACES>\n<PEOPLE></PEOPLE>\n<ORGS></ORGS>\n<EXCHANGES></EXCHANGES>\n"
        f"<COMPANIES></COMPANIES>\n<UNKNOWN> \n&#5;&#5;&#5;C T\n</UNKNOWN>\n<TEXT>&#2;\n<TITLE>{title}</TITLE>\n"
        f"<DATELINE>    NEW YORK, Feb 26 - </DATELINE><BODY>{body}\n Reuter\n&#3;</BODY></TEXT>\n</REUTERS>\n"
    )


def write_reuters(folder: Path) -> dict[str, list[tuple[str, ...]]]:
    """Two reut2-*.sgm files. Returns the ModApte topics per split in file order.

    Topics: earn and acq occur alone in train and test; grain alone only in train
    (so it is no R52 class) but together with wheat in test; several documents are
    outside ModApte (NOT-USED, TOPICS="NO", "BYPASS").
    """
    folder.mkdir(parents=True, exist_ok=True)
    plan = [  # (split, topics, has_topics)
        ("TRAIN", ["earn"], "YES"), ("TRAIN", ["earn"], "YES"), ("TRAIN", ["acq"], "YES"),
        ("TRAIN", ["acq"], "YES"), ("TRAIN", ["earn", "acq"], "YES"), ("TRAIN", ["grain"], "YES"),
        ("TRAIN", [], "YES"), ("TRAIN", ["grain", "wheat"], "YES"), ("TRAIN", ["earn"], "NO"),
        ("NOT-USED", ["earn"], "YES"), ("TEST", ["earn"], "YES"), ("TEST", ["acq"], "YES"),
        ("TEST", ["grain", "wheat"], "YES"), ("TEST", ["acq"], "BYPASS"), ("TRAIN", ["earn"], "YES"),
        ("TRAIN", ["acq"], "YES"),
    ]
    words = {"earn": "profit dividend quarter", "acq": "merger stake shares", "grain": "wheat harvest tonnes"}
    documents = []
    expected: dict[str, list[tuple[str, ...]]] = {"train": [], "test": []}
    for new_id, (split, topics, has_topics) in enumerate(plan, start=1):
        body = " ".join(words.get(t, t) for t in topics) + " said the company &lt;ABC&gt; in a statement"
        documents.append(reuters_document(new_id, split, topics, f"STORY {new_id}", body, has_topics))
        if has_topics == "YES" and split in ("TRAIN", "TEST"):
            expected[split.lower()].append(tuple(topics))
    header = '<!DOCTYPE lewis SYSTEM "lewis.dtd">\n'
    (folder / "reut2-000.sgm").write_bytes((header + "".join(documents[:9])).encode("latin-1"))
    (folder / "reut2-001.sgm").write_bytes((header + "".join(documents[9:])).encode("latin-1"))
    return expected


# ------------------------------------------------------------------- PTB-XL

SCP_STATEMENTS = """,description,diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass
NORM,normal ECG,1.0,,,NORM,NORM
IMI,inferior myocardial infarction,1.0,,,MI,IMI
ASMI,anteroseptal myocardial infarction,1.0,,,MI,AMI
NDT,non-diagnostic T abnormalities,1.0,1.0,,STTC,STTC
LVOLT,low QRS voltages,,1.0,,,
SR,sinus rhythm,,,1.0,,
AFIB,atrial fibrillation,,,1.0,,
"""
LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
# (scp_codes, strat_fold); record 7 has only a rhythm statement
PTBXL_PLAN = [
    ("{'NORM': 100.0, 'SR': 0.0}", 1), ("{'IMI': 50.0, 'NDT': 0.0}", 2), ("{'ASMI': 100.0, 'LVOLT': 0.0}", 3),
    ("{'NORM': 80.0}", 4), ("{'IMI': 100.0, 'ASMI': 15.0, 'AFIB': 0.0}", 5), ("{'NDT': 100.0}", 6),
    ("{'SR': 0.0}", 7), ("{'NORM': 100.0}", 8), ("{'IMI': 35.0, 'LVOLT': 0.0}", 9), ("{'NORM': 100.0, 'SR': 0.0}", 9),
    ("{'NDT': 100.0}", 10), ("{'ASMI': 100.0, 'AFIB': 0.0}", 10),
]


def write_ptbxl(folder: Path, rates: tuple[int, ...] = (100,), seed: int = 0) -> None:
    """A PhysioNet-style PTB-XL folder with PTBXL_PLAN's records written by wfdb.wrsamp."""
    import wfdb

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scp_statements.csv").write_text(SCP_STATEMENTS)
    offsets = np.linspace(-1.0, 1.0, 12)
    rows = ["ecg_id,patient_id,age,sex,scp_codes,strat_fold,filename_lr,filename_hr"]
    for ecg_id, (codes, fold) in enumerate(PTBXL_PLAN, start=1):
        low, high = f"records100/00000/{ecg_id:05d}_lr", f"records500/00000/{ecg_id:05d}_hr"
        rows.append(f'{ecg_id},{100 + ecg_id}.0,50.0,1,"{codes}",{fold},{low},{high}')
        for rate, name in ((100, low), (500, high)):
            if rate not in rates:
                continue
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            signal = offsets[None, :] + (0.1 + 0.05 * np.arange(12))[None, :] * rng.standard_normal((10 * rate, 12))
            wfdb.wrsamp(target.name, fs=rate, units=["mV"] * 12, sig_name=LEADS, p_signal=signal,
                        fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(target.parent))
    (folder / "ptbxl_database.csv").write_text("\n".join(rows) + "\n")
