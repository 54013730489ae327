"""A generated corpus of hostile (and a few merely unusual) uploads, each with what must become of it:
a typed failure with a quarantine report naming the finding, or — for what a data engineer may
reasonably send (a BOM, CRLF line ends, an upper-case extension, gzip, Parquet, odd key names) — a
clean run of the very same dataset version as the plain CSV."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from slipway_cli.samples import make_churn, to_csv_bytes, to_parquet_bytes

MODEL = "corpus"  # the churn spec with one small forest
TINY = "corpus-tiny"  # the same with min_rows: 1, to reach the split's own minimum
UNKNOWN = "corpus-nobody"  # never pushed
ROWS = 1_200
SEED = 101

type Outcome = Literal["registered", "same_dataset", "failure"]


@dataclass(frozen=True)
class Case:
    name: str
    key: str  # in the raw bucket
    body: bytes
    outcome: Outcome
    error: str | None = None  # the execution's typed error
    checks: frozenset[str] = field(default_factory=frozenset)  # findings the report must hold (at least)
    quarantine_model: str = MODEL
    multipart: bool = False

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def base() -> pd.DataFrame:
    return make_churn(n_rows=ROWS, seed=SEED)


def emails() -> set[str]:
    """Values of the spec's pii: hash column in the base data: no report may quote any of them."""
    return set(base()["email"])


def _csv(frame: pd.DataFrame, **options: object) -> bytes:
    return frame.to_csv(index=False, **options).encode("utf-8")  # type: ignore[call-overload,no-any-return]


def _lines(body: bytes) -> list[str]:
    return body.decode().splitlines()


def _joined(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _parquet(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    frame.to_parquet(sink, index=False)
    return sink.getvalue()


def _zip(name: str, body: bytes) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr(name, body)
    return sink.getvalue()


def _gzip_bomb(expanded: int = 80 * 1024 * 1024) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    chunk = b"0" * (1 << 22)
    return b"".join(deflate.compress(chunk) for _ in range(expanded // len(chunk))) + deflate.flush()


def _wide(columns: int = 20_000, rows: int = 3) -> bytes:
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow([f"c{i}" for i in range(columns)])
    for r in range(rows):
        writer.writerow([r] * columns)
    return sink.getvalue().encode()


def _failure(
    name: str, key: str, body: bytes, *checks: str, error: str = "DataContractViolation", **kw: object
) -> Case:
    return Case(name, key, body, "failure", error, frozenset(checks), **kw)  # type: ignore[arg-type]


def tolerable() -> list[Case]:
    """Uploads that must run cleanly and curate to the plain CSV's dataset version."""
    frame = base()
    plain = to_csv_bytes(frame)
    return [
        Case("utf-8 BOM", f"{MODEL}/bom.csv", b"\xef\xbb\xbf" + plain, "same_dataset"),
        Case("CRLF line ends", f"{MODEL}/crlf.csv", plain.replace(b"\n", b"\r\n"), "same_dataset"),
        Case("upper-case extension", f"{MODEL}/SHOUTING.CSV", plain, "same_dataset"),
        Case("gzip", f"{MODEL}/export.csv.gz", gzip.compress(plain), "same_dataset"),
        Case("parquet", f"{MODEL}/export.parquet", to_parquet_bytes(frame), "same_dataset"),
        Case("spaces and unicode in the key", f"{MODEL}/Février export (final) v2.csv", plain, "same_dataset"),
        Case("nested folders in the key", f"{MODEL}/2026/11/25/part-0000.csv", plain, "same_dataset"),
        Case("quoted every field", f"{MODEL}/quoted.csv", _csv(frame, quoting=csv.QUOTE_ALL), "same_dataset"),
    ]


def hostile() -> list[Case]:
    frame = base()
    plain = to_csv_bytes(frame)
    lines = _lines(plain)
    cases: list[Case] = [
        _failure("empty file", f"{MODEL}/empty.csv", b"", "readable"),
        _failure("header only", f"{MODEL}/header-only.csv", (lines[0] + "\n").encode(), "row_count"),
        _failure(
            "random bytes",
            f"{MODEL}/garbage.csv",
            np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
            "readable",
        ),
        _failure("random bytes as parquet", f"{MODEL}/garbage.parquet", b"PAR1" + bytes(range(256)) * 8, "readable"),
        _failure(
            "truncated gzip", f"{MODEL}/cut.csv.gz", gzip.compress(plain)[: len(gzip.compress(plain)) // 2], "readable"
        ),
        _failure("gzip named .csv", f"{MODEL}/secretly-gzip.csv", gzip.compress(plain), "readable"),
        _failure("csv named .csv.gz", f"{MODEL}/not-gzip.csv.gz", plain, "readable"),
        _failure("csv named .parquet", f"{MODEL}/not-parquet.parquet", plain, "readable"),
        _failure("parquet named .csv", f"{MODEL}/secretly-parquet.csv", to_parquet_bytes(frame), "readable"),
        _failure("zip archive named .csv", f"{MODEL}/archive.csv", _zip("export.csv", plain), "readable"),
        _failure("truncated parquet", f"{MODEL}/cut.parquet", to_parquet_bytes(frame)[:-200], "readable"),
        _failure("gzip bomb", f"{MODEL}/bomb.csv.gz", _gzip_bomb(), "readable"),
        _failure("unsupported extension", f"{MODEL}/export.xlsx", plain, "readable"),
        _failure("semicolon delimiter", f"{MODEL}/semicolons.csv", _csv(frame, sep=";"), "header"),
        _failure("tab delimiter", f"{MODEL}/tabs.csv", _csv(frame, sep="\t"), "header"),
        _failure("utf-16 encoding", f"{MODEL}/utf16.csv", plain.decode().encode("utf-16"), "readable"),
        _failure(
            "latin-1 encoding",
            f"{MODEL}/latin1.csv",
            plain.decode().replace("north", "nörth").encode("latin-1"),
            "readable",
        ),
        _failure(
            "ragged row (extra field)",
            f"{MODEL}/ragged.csv",
            _joined([*lines[:9], lines[9] + ",surplus", *lines[10:]]),
            "readable",
        ),
        _failure(
            "short row",
            f"{MODEL}/short.csv",
            _joined([*lines[:9], lines[9].rsplit(",", 3)[0], *lines[10:]]),
            "readable",
        ),
        _failure(
            "unterminated quote",
            f"{MODEL}/quote.csv",
            _joined([*lines[:5], lines[5].replace(",", ',"', 1), *lines[6:]]),
            "readable",
        ),
        _failure(
            "duplicate header",
            f"{MODEL}/dup-header.csv",
            _csv(pd.concat([frame, frame[["age"]]], axis=1)),
            "unexpected_column",
        ),
        _failure("missing header row", f"{MODEL}/no-header.csv", _joined(lines[1:]), "header"),
        _failure("missing column", f"{MODEL}/no-plan.csv", _csv(frame.drop(columns=["plan"])), "missing_column"),
        _failure("unknown extra column", f"{MODEL}/extra.csv", _csv(frame.assign(notes="hello")), "unexpected_column"),
        _failure("20,000 columns", f"{MODEL}/wide.csv", _wide(), "header"),
        _failure(
            "a 3 MB field",
            f"{MODEL}/huge-field.csv",
            _joined([*lines[:3], lines[3].replace(lines[3].split(",")[0], "C" + "9" * 3_000_000, 1), *lines[4:]]),
            "readable",
        ),
        _failure(
            "control characters",
            f"{MODEL}/control.csv",
            _csv(frame.assign(region=frame["region"].astype(str).where(frame.index % 50 != 0, "nor\x00th\x1b[31m"))),
            "allowed",
        ),
        _failure(
            "formula injection",
            f"{MODEL}/formula.csv",
            _csv(
                frame.assign(customer_id=frame["customer_id"].where(frame.index % 100 != 0, '=HYPERLINK("http://x")'))
            ),
            "regex",
        ),
        _failure(
            "type confusion in CSV",
            f"{MODEL}/types.csv",
            _csv(frame.assign(age=frame["age"].astype(str).where(frame.index % 40 != 0, "forty"))),
            "type",
        ),
        _failure(
            "NaN and inf",
            f"{MODEL}/nan-inf.csv",
            _csv(
                frame.assign(
                    monthly_charges=frame["monthly_charges"].where(frame.index % 30 != 0, np.inf),
                    total_charges=frame["total_charges"].where(frame.index % 31 != 0, np.nan),
                )
            ),
            "max",
            "not_null",
        ),
        _failure(
            "out of range",
            f"{MODEL}/range.csv",
            _csv(frame.assign(age=frame["age"].where(frame.index % 20 != 0, 150), tenure_months=-1)),
            "max",
            "min",
        ),
        _failure(
            "parquet with wrong stored types",
            f"{MODEL}/typed.parquet",
            _parquet(frame.assign(age=frame["age"].astype(str), churned=frame["churned"].astype(float))),
            "type",
        ),
        _failure("one-class target", f"{MODEL}/one-class.csv", _csv(frame.assign(churned=0)), "target_classes"),
        _failure(
            "a class too rare for the split",
            f"{MODEL}/rare.csv",
            _csv(frame.assign(churned=np.where(frame.index < 2, 1, 0))),
            "class_rows",
        ),
        _failure(
            "missing targets",
            f"{MODEL}/unlabelled.csv",
            _csv(frame.assign(churned=frame["churned"].astype(float).where(frame.index % 10 != 0))),
            "not_null",
        ),
        _failure(
            "duplicate ids",
            f"{MODEL}/dup-ids.csv",
            _csv(
                frame.assign(customer_id=frame["customer_id"].where(frame.index % 2 == 0, frame["customer_id"].iloc[0]))
            ),
            "unique",
        ),
        _failure("too few rows", f"{MODEL}/five.csv", _csv(frame.head(5)), "row_count"),
        _failure(
            "too few rows for the split", f"{TINY}/three.csv", _csv(frame.head(3)), "split_rows", quarantine_model=TINY
        ),
        _failure(
            "unknown model",
            f"{UNKNOWN}/data.csv",
            plain,
            "spec",
            error="SpecError",
            quarantine_model=UNKNOWN,
        ),
        _failure("bucket root", "loose-file.csv", plain, "layout", quarantine_model="_unknown"),
        _failure(
            "multipart-sized, wrong delimiter",
            f"{MODEL}/big-semicolons.csv",
            _csv(make_churn(n_rows=40_000, seed=SEED + 1), sep=";"),
            "header",
            multipart=True,
        ),
    ]
    return cases
