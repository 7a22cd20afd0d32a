"""Downloads the public SpERT copies of CoNLL04, SciERC and ADE (`spertmt download`).

The files are those of lavis-nlp/spert's `scripts/fetch_datasets.sh`, fetched into
`<dest>/<dataset>/<file>` (the layout the configs expect) and checked against the first 16 hex
digits of their sha256.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
from pathlib import Path

BASE_URL = "http://lavis.cs.hs-rm.de/storage/spert/public/datasets"

# file -> first 16 hex digits of its sha256
FILES: dict[str, dict[str, str]] = {
    "conll04": {
        "conll04_train.json": "65c52d5b6134c72c",
        "conll04_dev.json": "3965a5110a79671f",
        "conll04_test.json": "347f45cf181b5641",
        "conll04_train_dev.json": "1eae483f32061451",
        "conll04_types.json": "9244d21d2640430f",
    },
    "scierc": {
        "scierc_train.json": "40879beb794a2d94",
        "scierc_dev.json": "77506c1a9d9e6a3f",
        "scierc_test.json": "ecc88eca58a88cf2",
        "scierc_train_dev.json": "b559f38de2d7918a",
        "scierc_types.json": "c092a29d28cc0186",
    },
    "ade": {
        "ade_full.json": "5bc2355bcb3fa326",
        "ade_types.json": "3675aea50f600cb6",
        "ade_split_0_train.json": "6624ac4d015c75f5",
        "ade_split_0_test.json": "6d6a3584d3876a35",
        "ade_split_1_train.json": "811befd6d23d2aeb",
        "ade_split_1_test.json": "532fa740c11466c5",
        "ade_split_2_train.json": "c13ff04545537879",
        "ade_split_2_test.json": "69c4844907809f4e",
        "ade_split_3_train.json": "1d65b2aab0da37d3",
        "ade_split_3_test.json": "07e188e39118bd96",
        "ade_split_4_train.json": "de8cdb999563697d",
        "ade_split_4_test.json": "937eff5f8982fff8",
        "ade_split_5_train.json": "474668717b0fbcb4",
        "ade_split_5_test.json": "d01d706574d49213",
        "ade_split_6_train.json": "c3e41dea7c11c34d",
        "ade_split_6_test.json": "3e35e7278060f161",
        "ade_split_7_train.json": "3839c5f7cfd5c9e2",
        "ade_split_7_test.json": "6c4f25fffd1ce4fb",
        "ade_split_8_train.json": "9c5c698bb7d5a72e",
        "ade_split_8_test.json": "69fb620cc4f9fe4d",
        "ade_split_9_train.json": "e863f0b8a717364f",
        "ade_split_9_test.json": "a02776d17963ada8",
    },
}


def _sha256_prefix(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def download(datasets: list[str], dest: str | Path, base_url: str = BASE_URL, verify: bool = True,
             progress: bool = True) -> list[Path]:
    """Fetches every file of `datasets` into dest/<dataset>/; existing good files are kept."""
    from tqdm.auto import tqdm

    unknown = sorted(set(datasets) - set(FILES))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; available: {sorted(FILES)}")
    jobs = [(name, file, digest) for name in datasets for file, digest in FILES[name].items()]
    written = []
    for name, file, digest in tqdm(jobs, desc="download", disable=not progress):
        target = Path(dest) / name / file
        if target.exists() and (not verify or _sha256_prefix(target) == digest):
            written.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        url = f"{base_url.rstrip('/')}/{name}/{file}"
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    shutil.copyfileobj(response, tmp)
            except OSError as error:
                Path(tmp.name).unlink(missing_ok=True)
                raise OSError(f"could not download {url}: {error}") from None
        if verify and _sha256_prefix(Path(tmp.name)) != digest:
            Path(tmp.name).unlink()
            raise ValueError(f"{url}: the downloaded file does not match the published copy (sha256)")
        Path(tmp.name).replace(target)
        written.append(target)
    return written
