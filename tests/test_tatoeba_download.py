"""The main command on a bare clone: with no corpus at hand the pipeline fetches the Tatoeba
spa-eng.zip and checks it (here from file:// copies of zips made in the test): a wrong checksum, a
truncated zip and no network each give one clear line and leave nothing behind."""
import hashlib
import io
import os
import subprocess
import zipfile

import pytest

from conftest import REPO, run_cli

SPA_TXT = b"Go.\tVe.\tCC-BY 2.0 (France)\nHi.\tHola.\tCC-BY 2.0 (France)\n"


def make_zip(path, member="spa-eng/spa.txt", data=SPA_TXT):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)
    path.write_bytes(buffer.getvalue())
    return path


def fetch(dest, url, md5):
    return run_cli("fetch-tatoeba", dest, "--url", url, "--md5", md5, timeout=120)


def test_the_fixed_copy_is_the_one_of_the_shared_corpus(shared_dir):
    """The default md5 is that of the corpus the README's figures were made on."""
    from cs224n_nmt_plugin.text.tatoeba import FIXED_MD5

    spa = shared_dir / "data" / "tatoeba_spa_eng" / "spa.txt"
    assert hashlib.md5(spa.read_bytes()).hexdigest() == FIXED_MD5
    assert len(spa.read_bytes().splitlines()) == 118_964


def test_a_checked_download_writes_spa_txt(tmp_path):
    zip_path = make_zip(tmp_path / "spa-eng.zip")
    result = fetch(tmp_path / "out", zip_path.as_uri(), hashlib.md5(SPA_TXT).hexdigest())
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "spa.txt").read_bytes() == SPA_TXT
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["spa.txt"]


@pytest.mark.parametrize("case", ["wrong checksum", "truncated zip", "no such member", "offline"])
def test_a_bad_download_is_one_line_and_leaves_nothing(tmp_path, case):
    zip_path = make_zip(tmp_path / "spa-eng.zip", member="other.txt" if case == "no such member" else "spa-eng/spa.txt")
    md5 = hashlib.md5(SPA_TXT).hexdigest()
    url = zip_path.as_uri()
    if case == "wrong checksum":
        md5 = "0" * 32
    elif case == "truncated zip":
        zip_path.write_bytes(zip_path.read_bytes()[:40])
    elif case == "offline":
        url = (tmp_path / "missing.zip").as_uri()
    result = fetch(tmp_path / "out", url, md5)
    expected = {"wrong checksum": f"has md5 {hashlib.md5(SPA_TXT).hexdigest()}, not {md5}",
                "truncated zip": "is not a complete zip file",
                "no such member": "the zip holds no spa-eng/spa.txt",
                "offline": "cannot download"}[case]
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    if case == "offline":
        assert "put its spa-eng/spa.txt there" in lines[0] and "TATOEBA=" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_pipeline_fetches_the_corpus_when_none_is_at_hand(tmp_path):
    """scripts/lib.sh's tatoeba_corpus, as run.sh calls it: no TATOEBA, nothing in SHARED_DATA."""
    zip_path = make_zip(tmp_path / "spa-eng.zip")
    env = {key: value for key, value in os.environ.items() if key != "TATOEBA"}
    env.update(SHARED_DATA=str(tmp_path / "no-shared"), DATA_BIN_ROOT=str(tmp_path / "data-bin"),
               TATOEBA_URL=zip_path.as_uri(), TATOEBA_MD5=hashlib.md5(SPA_TXT).hexdigest())
    show = "source scripts/lib.sh; use_environment; tatoeba_corpus"
    first = subprocess.run(["bash", "-c", show], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    fetched = tmp_path / "data-bin" / "downloads" / "tatoeba" / "spa.txt"
    assert first.stdout.strip() == str(fetched) and fetched.read_bytes() == SPA_TXT
    assert "fetching the Tatoeba spa-eng corpus" in first.stderr
    zip_path.unlink()  # a second run uses the fetched copy
    again = subprocess.run(["bash", "-c", show], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.strip() == str(fetched) and "fetching" not in again.stderr
