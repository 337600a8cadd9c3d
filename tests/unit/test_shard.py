"""The commit protocol (raycollect.shard), rule by rule, with a scripted engine and a fake clock.

The engine plays back planned outcomes per key and writes the given bytes; nothing touches a network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from pathlib import Path

import pytest

from raycollect.downloaders.base import Outcome
from raycollect.downloaders.retry import FILE_ATTEMPTS
from raycollect.mirror.generate import zip_bytes
from raycollect.shard import process_shard
from raycollect.staging import StagingArea
from raycollect.storage import LocalStorage
from tests.helpers import zip_of

KEY = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
NAME = KEY.rsplit("/", 1)[1]
ZIP = zip_bytes(NAME[:-4] + ".csv", b"1,2,3\n", dt.date(2024, 1, 1))
DIGEST = hashlib.sha256(ZIP).hexdigest()
SIDECAR = f"{DIGEST}  {NAME}\n".encode()


class Scripted:
    """A downloader whose ``transfer`` plays back a script per key: bytes (written, ok) or an Outcome."""

    name = "scripted"

    def __init__(self, script: dict[str, list[bytes | Outcome]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: dict[str, int] = defaultdict(int)

    def transfer(self, pairs: list[tuple[str, str]], on_done=None) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for key, dst in pairs:
            self.calls[key] += 1
            step = self.script[key].pop(0) if len(self.script[key]) > 1 else self.script[key][0]
            if isinstance(step, bytes):
                Path(dst).write_bytes(step)
                out[key] = Outcome(True, size=len(step))
                if on_done is not None:
                    on_done(key, len(step))
            else:
                out[key] = step
        return out

    def close(self) -> None:
        pass


def run(tmp_path: Path, zip_steps, sum_steps, *, verify=True, verify_existing=False):
    engine = Scripted({KEY: zip_steps, KEY + ".CHECKSUM": sum_steps})
    sleeps: list[float] = []
    with StagingArea(tmp_path / ".raycollect-staging", "test") as area:
        row = process_shard({"key": [KEY], "checksum_key": [KEY + ".CHECKSUM"], "target": [KEY],
                             "verify_existing": [verify_existing]}, downloader=engine,
                            storage=LocalStorage(tmp_path), verify=verify, staging=area, sleep=sleeps.append,
                            rng=lambda: 1.0).to_pylist()[0]
        assert list(area.dir.iterdir()) == []  # the shard removed its staging directory
    return row, engine, sleeps


def final_files(tmp_path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


RESET = Outcome(False, error="ConnectionResetError: reset", transient=True)
STALL = Outcome(False, error="StallError: timed out after 20s (timeout_seconds)", transient=True)
NOT_FOUND = Outcome(False, missing=True, error="NoSuchKey")
FORBIDDEN = Outcome(False, error="HTTP 403", transient=False)


def test_success_commits_zip_and_sidecar(tmp_path):
    row, _, sleeps = run(tmp_path, [ZIP], [SIDECAR])
    assert (row["status"], row["attempts"], row["sha256"], row["expected_sha256"]) == ("success", 1, DIGEST, DIGEST)
    assert final_files(tmp_path) == {KEY: ZIP, KEY + ".CHECKSUM": SIDECAR} and sleeps == []


def test_a_transient_failure_then_success_ends_success_with_2_attempts_after_one_backoff(tmp_path):
    row, engine, sleeps = run(tmp_path, [RESET, ZIP], [SIDECAR])
    assert (row["status"], row["attempts"], row["error"]) == ("success", 2, None)
    assert sleeps == [0.5]
    assert engine.calls[KEY + ".CHECKSUM"] == 1  # a good sidecar is not fetched again


def test_transient_failures_every_round_fail_with_the_true_attempt_count_and_reason(tmp_path):
    row, engine, sleeps = run(tmp_path, [STALL], [SIDECAR])
    assert (row["status"], row["attempts"]) == ("failed", FILE_ATTEMPTS)
    assert row["error"] == "StallError: timed out after 20s (timeout_seconds)"
    assert sleeps == [0.5, 1.0] and engine.calls[KEY] == FILE_ATTEMPTS
    assert final_files(tmp_path) == {}


def test_a_terminal_error_is_not_retried(tmp_path):
    row, engine, sleeps = run(tmp_path, [FORBIDDEN], [SIDECAR])
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 1, "HTTP 403")
    assert engine.calls[KEY] == 1 and sleeps == []


def test_a_missing_zip_is_missing_at_once(tmp_path):
    row, _, _ = run(tmp_path, [NOT_FOUND], [NOT_FOUND])
    assert (row["status"], row["attempts"], row["error"]) == ("missing", 1, "not in the archive (404 NoSuchKey)")


@pytest.mark.parametrize("damaged", [
    f"{DIGEST}  ETHUSDT-1mM-R2024-02-01.zip".encode(),  # file-name part altered in transit
    f"{DIGEST}  {NAME}\n{DIGEST}  other.zip\n".encode(),  # a second line
    f"{DIGEST.upper()}  {NAME}".encode(),  # upper-case hex
    f"{DIGEST} {NAME}".encode(),  # one space
    f"{DIGEST}  data/spot/{NAME}".encode(),  # a directory part
    DIGEST.encode(),  # digest only
    b"<html>oops</html>",
])  # fmt: skip
def test_a_malformed_sidecar_is_fetched_again_and_never_committed(tmp_path, damaged):
    row, engine, _ = run(tmp_path, [ZIP], [damaged, SIDECAR])
    assert (row["status"], row["attempts"]) == ("success", 2)
    assert final_files(tmp_path) == {KEY: ZIP, KEY + ".CHECKSUM": SIDECAR}
    assert engine.calls[KEY] == 1  # the verified-good zip stayed staged


def test_a_sidecar_that_names_another_file_in_every_round_quarantines_the_file(tmp_path):
    bad = f"{DIGEST}  ETHUSDT-1mM-R2024-02-01.zip".encode()
    row, _, _ = run(tmp_path, [ZIP], [bad])
    assert (row["status"], row["attempts"]) == ("quarantined", FILE_ATTEMPTS)
    assert row["error"] == (f"checksum sidecar malformed sidecar (names 'ETHUSDT-1mM-R2024-02-01.zip', not '{NAME}'): "
                            f"'{bad.decode()}' (kept at _quarantine/{KEY})")
    assert final_files(tmp_path) == {f"_quarantine/{KEY}": ZIP, f"_quarantine/{KEY}.CHECKSUM": bad}


def test_a_sidecar_that_stays_malformed_in_another_way_fails_the_file(tmp_path):
    bad = f"{DIGEST}  {NAME}\n{DIGEST}  other.zip\n".encode()
    row, _, _ = run(tmp_path, [ZIP], [bad])
    assert (row["status"], row["attempts"]) == ("failed", FILE_ATTEMPTS)
    assert row["error"].startswith("checksum sidecar malformed sidecar")
    assert final_files(tmp_path) == {}


@pytest.mark.parametrize(("payload", "reason"), [
    (zip_of({"a.csv": b"1\n", "b.csv": b"2\n"}), "holds 2 files ('a.csv', 'b.csv'), not one"),
    (zip_of({}), "empty zip: it holds no file"),
    (b"", "empty file: 0 bytes, not a zip"),
    (b"<html>not a zip</html>", "cannot be opened as a zip: File is not a zip file"),
])  # fmt: skip
def test_a_verified_zip_that_is_not_one_usable_file_is_quarantined_with_its_reason(tmp_path, payload, reason):
    sidecar = f"{hashlib.sha256(payload).hexdigest()}  {NAME}\n".encode()
    row, _, _ = run(tmp_path, [payload], [sidecar])
    assert (row["status"], row["checksum_verified"], row["attempts"]) == ("quarantined", True, 1)
    assert row["error"] == f"{reason} (kept at _quarantine/{KEY})"
    assert row["sha256"] == hashlib.sha256(payload).hexdigest()
    assert final_files(tmp_path) == {f"_quarantine/{KEY}": payload, f"_quarantine/{KEY}.CHECKSUM": sidecar}


def test_a_zip_whose_one_file_is_empty_is_data_not_quarantined(tmp_path):
    empty = zip_of({NAME[:-4] + ".csv": b""})  # a day with no rows: silver reports it as an empty file
    row, _, _ = run(tmp_path, [empty], [f"{hashlib.sha256(empty).hexdigest()}  {NAME}\n".encode()])
    assert row["status"] == "success" and final_files(tmp_path)[KEY] == empty


def test_a_quarantined_file_leaves_the_earlier_verified_copy_at_its_target(tmp_path):
    (tmp_path / KEY).parent.mkdir(parents=True)
    (tmp_path / KEY).write_bytes(ZIP)
    two = zip_of({"a.csv": b"1\n", "b.csv": b"2\n"})
    sidecar = f"{hashlib.sha256(two).hexdigest()}  {NAME}\n".encode()
    row, _, _ = run(tmp_path, [two], [sidecar], verify_existing=True)
    assert (row["status"], row["previous_sha256"]) == ("quarantined", DIGEST)
    assert final_files(tmp_path)[KEY] == ZIP and final_files(tmp_path)[f"_quarantine/{KEY}"] == two


def test_spot_sidecars_without_newline_are_valid(tmp_path):
    row, _, _ = run(tmp_path, [ZIP], [SIDECAR.rstrip(b"\n")])
    assert row["status"] == "success"


def test_a_sidecar_404_gets_its_rounds_then_fails_as_missing_sidecar(tmp_path):
    row, _, _ = run(tmp_path, [ZIP], [NOT_FOUND, SIDECAR])
    assert (row["status"], row["attempts"]) == ("success", 2)
    row, _, _ = run(tmp_path / "b", [ZIP], [NOT_FOUND])
    assert (row["status"], row["error"]) == ("failed", f"checksum sidecar missing: {KEY}.CHECKSUM")


def test_a_mismatch_is_fetched_again_once_then_succeeds(tmp_path):
    flipped = ZIP[:-1] + b"X"
    row, engine, _ = run(tmp_path, [flipped, ZIP], [SIDECAR])
    assert (row["status"], row["attempts"]) == ("success", 2)
    assert engine.calls[KEY] == 2 and engine.calls[KEY + ".CHECKSUM"] == 2  # both fetched again
    assert final_files(tmp_path)[KEY] == ZIP


def test_a_second_mismatch_fails_with_both_digests(tmp_path):
    flipped = ZIP[:-1] + b"X"
    row, engine, _ = run(tmp_path, [flipped], [SIDECAR])
    bad = hashlib.sha256(flipped).hexdigest()
    assert (row["status"], row["sha256"], row["expected_sha256"]) == ("failed", bad, DIGEST)
    assert row["error"] == f"checksum mismatch: expected {DIGEST}, got {bad}"
    assert engine.calls[KEY] == 2 and final_files(tmp_path) == {}


def test_a_mismatch_on_the_last_round_still_gets_its_refetch(tmp_path):
    flipped = ZIP[:-1] + b"X"
    row, _, _ = run(tmp_path, [RESET, RESET, flipped, ZIP], [SIDECAR])
    assert (row["status"], row["attempts"]) == ("success", 4)


def test_a_failed_commit_leaves_no_final_file_and_no_staging(tmp_path):
    (tmp_path / KEY).mkdir(parents=True)  # a directory where the zip should go: the rename fails
    row, _, _ = run(tmp_path, [ZIP], [SIDECAR])
    assert row["status"] == "failed" and row["error"].startswith("commit to the destination failed:")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_an_existing_good_copy_is_skipped_and_its_damaged_sidecar_replaced(tmp_path):
    (tmp_path / KEY).parent.mkdir(parents=True)
    (tmp_path / KEY).write_bytes(ZIP)
    (tmp_path / (KEY + ".CHECKSUM")).write_bytes(f"{DIGEST}  ETHUSDT-1mM-R2024-02-01.zip".encode())
    row, engine, _ = run(tmp_path, [ZIP], [SIDECAR], verify_existing=True)
    assert (row["status"], row["checksum_verified"], row["attempts"]) == ("skipped", True, 0)
    assert engine.calls[KEY] == 0
    assert final_files(tmp_path) == {KEY: ZIP, KEY + ".CHECKSUM": SIDECAR}


def test_an_existing_changed_copy_is_replaced_and_its_old_digest_kept(tmp_path):
    (tmp_path / KEY).parent.mkdir(parents=True)
    (tmp_path / KEY).write_bytes(b"old bytes")
    row, _, _ = run(tmp_path, [ZIP], [SIDECAR], verify_existing=True)
    assert (row["status"], row["previous_sha256"]) == ("success", hashlib.sha256(b"old bytes").hexdigest())
    assert final_files(tmp_path)[KEY] == ZIP


def test_unverified_mode_commits_without_a_sidecar(tmp_path):
    row, engine, _ = run(tmp_path, [ZIP], [NOT_FOUND], verify=False)
    assert (row["status"], row["checksum_verified"]) == ("success", False)
    assert final_files(tmp_path) == {KEY: ZIP} and engine.calls[KEY + ".CHECKSUM"] == 0


def test_an_unsafe_key_is_refused_before_any_transfer(tmp_path):
    engine = Scripted({})
    with StagingArea(tmp_path / "st", "test") as area:
        row = process_shard({"key": ["data/../../etc/passwd"], "checksum_key": ["x"], "target": ["../x"],
                             "verify_existing": [False]}, downloader=engine, storage=LocalStorage(tmp_path / "o"),
                            verify=True, staging=area).to_pylist()[0]
    assert row["status"] == "failed" and row["error"] == "refused: unsafe object key 'data/../../etc/passwd'"
    assert engine.calls == {}


def test_progress_hears_of_each_zip_as_it_arrives_and_of_nothing_else(tmp_path):
    engine = Scripted({KEY: [RESET, ZIP], KEY + ".CHECKSUM": [SIDECAR]})
    heard: list[tuple[int, int]] = []
    with StagingArea(tmp_path / ".raycollect-staging", "test") as area:
        row = process_shard({"key": [KEY], "checksum_key": [KEY + ".CHECKSUM"], "target": [KEY],
                             "verify_existing": [False]}, downloader=engine, storage=LocalStorage(tmp_path),
                            verify=True, staging=area, sleep=lambda s: None,
                            progress=lambda f, b: heard.append((f, b))).to_pylist()[0]
    assert row["status"] == "success" and heard == [(1, len(ZIP))]  # the zip once; the sidecar never
