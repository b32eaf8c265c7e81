"""PTB-XL loader on a PhysioNet-style folder written with wfdb.wrsamp."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb
from data_fixtures import PTBXL_PLAN, write_ptbxl

from hf_challenger.data import get_metadata, load_benchmark

# wfdb 4.3 on pandas 3 warns about its own use of inplace=; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

# labels per record of PTBXL_PLAN under each task ("-" = no label: dropped)
EXPECTED = {
    "superdiagnostic": (["MI", "NORM", "STTC"], ["NORM", "MI STTC", "MI", "NORM", "MI", "STTC", "-", "NORM",
                                                  "MI", "NORM", "STTC", "MI"]),
    "subdiagnostic": (["AMI", "IMI", "NORM", "STTC"], ["NORM", "IMI STTC", "AMI", "NORM", "AMI IMI", "STTC", "-",
                                                       "NORM", "IMI", "NORM", "STTC", "AMI"]),
    "form": (["LVOLT", "NDT"], ["-", "NDT", "LVOLT", "-", "-", "NDT", "-", "-", "LVOLT", "-", "NDT", "-"]),
    "rhythm": (["AFIB", "SR"], ["SR", "-", "-", "-", "AFIB", "-", "SR", "-", "-", "SR", "-", "AFIB"]),
}


def _multi_hot(names, specs):
    return [[float(name in spec.split()) for name in names] for spec in specs if spec != "-"]


@pytest.fixture(scope="module")
def ptbxl_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ptbxl")
    write_ptbxl(folder, rates=(100, 500))
    return folder


def _split_of(fold):
    return "train" if fold <= 8 else ("validation" if fold == 9 else "test")


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_tasks_aggregate_like_the_benchmark(ptbxl_dir, tmp_path, task):
    names, specs = EXPECTED[task]
    dropped = {split: sum(1 for (_, fold), spec in zip(PTBXL_PLAN, specs) if spec == "-" and _split_of(fold) == split)
               for split in ("train", "validation", "test")}
    if any(dropped.values()):
        with pytest.warns(UserWarning, match=f"train {dropped['train']}, validation {dropped['validation']}"):
            dsd = load_benchmark("ptbxl", data_dir=ptbxl_dir, task=task, cache_dir=tmp_path)
    else:
        dsd = load_benchmark("ptbxl", data_dir=ptbxl_dir, task=task, cache_dir=tmp_path)
    metadata = get_metadata(dsd)
    assert metadata["label_names"] == names and metadata["dropped"] == dropped
    for split in ("train", "validation", "test"):
        split_specs = [spec for (_, fold), spec in zip(PTBXL_PLAN, specs) if _split_of(fold) == split]
        np.testing.assert_array_equal(dsd[split].with_format("numpy")["labels"][:], _multi_hot(names, split_specs))


def test_all_and_diagnostic_label_sets_come_from_scp_statements(ptbxl_dir, tmp_path):
    everything = load_benchmark("ptbxl", data_dir=ptbxl_dir, task="all", cache_dir=tmp_path)
    assert get_metadata(everything)["label_names"] == ["AFIB", "ASMI", "IMI", "LVOLT", "NDT", "NORM", "SR"]
    np.testing.assert_array_equal(everything["validation"].with_format("numpy")["labels"][:],
                                  [[0, 0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1]])
    assert {k: len(v) for k, v in everything.items()} == {"train": 8, "validation": 2, "test": 2}
    with pytest.warns(UserWarning, match=r"task='diagnostic': dropped records .*\(train 1, validation 0, test 0\)"):
        diagnostic = load_benchmark("ptbxl", data_dir=ptbxl_dir, task="diagnostic", cache_dir=tmp_path)
    assert len(diagnostic["train"]) == 7
    assert get_metadata(diagnostic)["label_names"] == ["ASMI", "IMI", "NDT", "NORM"]  # likelihood 0 counts too
    first = diagnostic["train"].with_format("numpy")["labels"][:2]
    np.testing.assert_array_equal(first, [[0, 0, 0, 1], [0, 1, 1, 0]])


@pytest.mark.parametrize("rate", [100, 500])
def test_signals_and_train_only_standardization(ptbxl_dir, tmp_path, rate):
    dsd = load_benchmark("ptbxl", data_dir=ptbxl_dir, task="all", sampling_rate=rate, cache_dir=tmp_path)
    raw = {split: np.stack([wfdb.rdsamp(str(ptbxl_dir / f"records{rate}/00000/{i:05d}_{'lr' if rate == 100 else 'hr'}"))[0].T
                            for i, (_, fold) in enumerate(PTBXL_PLAN, start=1) if _split_of(fold) == split])
           for split in ("train", "validation", "test")}
    mean, std = raw["train"].mean(axis=(0, 2)), raw["train"].std(axis=(0, 2))
    stats = get_metadata(dsd)["standardization"]
    np.testing.assert_allclose(stats["mean"], mean, atol=1e-6)
    np.testing.assert_allclose(stats["std"], std, rtol=1e-5)
    for split, signals in raw.items():
        values = dsd[split].with_format("numpy")["input_values"][:]
        assert values.shape == (len(signals), 12, 10 * rate) and values.dtype == np.float32
        np.testing.assert_allclose(values, (signals - mean[None, :, None]) / std[None, :, None], atol=1e-4)
    train = dsd["train"].with_format("numpy")["input_values"][:]
    np.testing.assert_allclose(train.mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=(0, 2)), 1, atol=1e-4)


def test_global_and_no_standardization(ptbxl_dir, tmp_path):
    plain = load_benchmark("ptbxl", data_dir=ptbxl_dir, task="all", standardization="none", cache_dir=tmp_path)
    signal = wfdb.rdsamp(str(ptbxl_dir / "records100/00000/00001_lr"))[0].T
    np.testing.assert_allclose(plain["train"].with_format("numpy")["input_values"][0], signal, atol=1e-6)
    pooled = load_benchmark("ptbxl", data_dir=ptbxl_dir, task="all", standardization="global", cache_dir=tmp_path)
    stats = get_metadata(pooled)["standardization"]
    assert len(set(stats["mean"])) == 1 and len(set(stats["std"])) == 1
    train = pooled["train"].with_format("numpy")["input_values"][:]
    assert abs(float(train.mean())) < 1e-5 and abs(float(train.std()) - 1) < 1e-4


def test_second_load_hits_the_cache(ptbxl_dir, tmp_path, monkeypatch):
    first = load_benchmark("ptbxl", data_dir=ptbxl_dir, task="all", cache_dir=tmp_path)
    monkeypatch.setattr("hf_challenger.data.ptbxl.read_record", lambda *a: pytest.fail("records re-read"))
    second = load_benchmark("ptbxl", data_dir=ptbxl_dir, task="all", cache_dir=tmp_path)
    assert second["test"].cache_files[0]["filename"] == first["test"].cache_files[0]["filename"]
    assert str(tmp_path) in second["test"].cache_files[0]["filename"]
    with pytest.raises(pytest.fail.Exception, match="records re-read"):  # another option: a new conversion
        load_benchmark("ptbxl", data_dir=ptbxl_dir, task="all", standardization="none", cache_dir=tmp_path)


def test_errors_name_files_and_choices(ptbxl_dir, tmp_path):
    with pytest.raises(ValueError, match="no canonical Hugging Face Hub dataset"):
        load_benchmark("ptbxl")
    with pytest.raises(ValueError, match=r"task='beats' .*'all', 'diagnostic', 'subdiagnostic'"):
        load_benchmark("ptbxl", data_dir=ptbxl_dir, task="beats")
    with pytest.raises(ValueError, match=r"sampling_rate=250 .*100, 500"):
        load_benchmark("ptbxl", data_dir=ptbxl_dir, sampling_rate=250)
    with pytest.raises(FileNotFoundError, match="ptbxl_database.csv"):
        load_benchmark("ptbxl", data_dir=tmp_path)


def test_missing_and_corrupt_records(tmp_path):
    folder = tmp_path / "p"
    write_ptbxl(folder)
    (folder / "records100/00000/00003_lr.dat").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 PTB-XL record file\(s\) missing.*00003_lr\.dat"):
        load_benchmark("ptbxl", data_dir=folder, task="all", cache_dir=tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="records500"):
        load_benchmark("ptbxl", data_dir=folder, task="all", sampling_rate=500, cache_dir=tmp_path / "c")
    write_ptbxl(folder)
    header = folder / "records100/00000/00004_lr.hea"
    header.write_text(header.read_text().replace("00004_lr 12 100 1000", "00004_lr 12 100 900"))
    with pytest.raises(ValueError, match=r"00004_lr holds 12 leads x 900 samples .*expected 12 leads x 1000"):
        load_benchmark("ptbxl", data_dir=folder, task="all", cache_dir=tmp_path / "c")
    write_ptbxl(folder)
    table = folder / "ptbxl_database.csv"
    table.write_text(table.read_text().replace("'NDT': 100.0}", "'XYZ': 100.0}", 1))
    with pytest.raises(ValueError, match=r"ecg_id 6 uses statements \['XYZ'\] absent from .*scp_statements.csv"):
        load_benchmark("ptbxl", data_dir=folder, task="all", cache_dir=tmp_path / "c")
