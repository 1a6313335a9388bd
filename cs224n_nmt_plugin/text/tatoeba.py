"""Fetch the Tatoeba Spanish-English corpus the pipeline trains on when no corpus is at hand.

    cs224n-nmt fetch-tatoeba DEST_DIR [--url URL --md5 MD5]

The default is the fixed copy of manythings.org's spa-eng.zip of 2018-05-13 that TensorFlow's
NMT-with-attention tutorial downloads: its spa.txt has 118,964 lines and the md5 below, so every
user trains on the same sentences. manythings.org's own spa-eng.zip changes over time; it is the
fallback, taken (with a warning, and its own md5 unchecked) only when the fixed copy cannot be
downloaded. The zip's spa-eng/spa.txt is checked and written as DEST_DIR/spa.txt (atomically: a
failed download, a truncated zip or a wrong checksum leave nothing behind). Without network, the
error says what to download and where to put it.
"""
import hashlib
import io
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.text.files import write_files

FIXED_URL = "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
FIXED_MD5 = "775e0fbdaf6dfb5cdb4ce8f13779beea"  # of spa-eng/spa.txt in that zip
FALLBACK_URL = "https://www.manythings.org/anki/spa-eng.zip"
MEMBER = "spa-eng/spa.txt"
TIMEOUT_SECONDS = 60


def download(url):
    """The bytes at ``url`` (http, https or file), or an InputError naming it."""
    request = urllib.request.Request(url, headers={"User-Agent": "cs224n-nmt-fairseq"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as error:
        raise InputError(url, f"cannot download ({getattr(error, 'reason', error)})") from None


def spa_txt(zip_bytes, url, md5):
    """The zip's spa-eng/spa.txt, checked against ``md5`` (None: not checked)."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            data = archive.read(MEMBER)
    except KeyError:
        raise InputError(url, f"the zip holds no {MEMBER}") from None
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as error:
        raise InputError(url, f"is not a complete zip file ({error})") from None
    digest = hashlib.md5(data).hexdigest()
    if md5 is not None and digest != md5:
        raise InputError(url, f"{MEMBER} has md5 {digest}, not {md5}: not the expected corpus")
    return data


def fetch(dest_dir, sources):
    """Writes DEST_DIR/spa.txt from the first of ``sources`` ((url, md5 or None), ...) that downloads;
    returns the url used."""
    failures = []
    for url, md5 in sources:
        try:
            zip_bytes = download(url)
        except InputError as error:
            failures.append(str(error))
            continue
        data = spa_txt(zip_bytes, url, md5)
        target = Path(dest_dir) / "spa.txt"
        write_files({target: lambda path, data=data: path.write_bytes(data)})
        return url
    raise InputError(Path(dest_dir) / "spa.txt", f"no corpus: {'; '.join(failures)}. Download {FIXED_URL} "
                                                 f"elsewhere and put its {MEMBER} there "
                                                 "(or set TATOEBA=path/to/spa.txt)")


def add_arguments(parser):
    parser.add_argument("dest_dir", type=Path, help="the folder to write spa.txt into")
    parser.add_argument("--url", help=f"download this zip instead (default: {FIXED_URL}, then {FALLBACK_URL})")
    parser.add_argument("--md5", help="with --url: the md5 its spa-eng/spa.txt must have ('none': not checked)")


def run(args):
    if args.url:
        sources = [(args.url, None if (args.md5 or "").lower() in ("", "none") else args.md5)]
    else:
        sources = [(FIXED_URL, FIXED_MD5), (FALLBACK_URL, None)]
    url = fetch(args.dest_dir, sources)
    if url == FALLBACK_URL:
        print(f"warning: {FIXED_URL} could not be downloaded: using manythings.org's current copy, which differs "
              f"from the fixed corpus of the README's figures", file=sys.stderr)
    print(f"wrote {args.dest_dir / 'spa.txt'} (from {url})")
