"Bad input for `digitlab.data`: each case on copies of the shipped files, never on the files themselves."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest
from PIL import Image
from digitlab.data import MnistError, read_idx, load_mnist, make_mnist_folders, check_mnist_folders, MNIST_SHA256, mnist_src

LBL = 't10k-labels-idx1-ubyte'
def read(d, nm=LBL): return read_idx(d/f'{nm}.gz', MNIST_SHA256[nm])

def test_shipped_files_verify():
    for nm in MNIST_SHA256: assert read(mnist_src(), nm).numel() > 0

def test_missing(src):
    (src/f'{LBL}.gz').unlink()
    with pytest.raises(MnistError, match=f"Cannot read .*{LBL}.gz .*replace it with a good copy, or leave out `src`"): read(src)

def test_truncated(src):
    fn = src/f'{LBL}.gz'; fn.write_bytes(fn.read_bytes()[:1000])
    with pytest.raises(MnistError, match=f"{LBL}.gz is not a complete gzip file.*truncated or corrupted"): read(src)

def test_corrupted_gzip(src):
    fn = src/f'{LBL}.gz'; b = bytearray(fn.read_bytes()); b[200:260] = bytes(60); fn.write_bytes(bytes(b))
    with pytest.raises(MnistError, match=f"{LBL}.gz is not a complete gzip file"): read(src)

def test_not_gzip(src):
    (src/f'{LBL}.gz').write_text('<html>404 Not Found</html>')
    with pytest.raises(MnistError, match="truncated or corrupted"): read(src)

def test_wrong_magic(src):
    from tests.conftest import rewrite
    rewrite(src/f'{LBL}.gz', lambda b: b'\x00\x00\x0d\x01'+b[4:])
    with pytest.raises(MnistError, match=r"not an MNIST IDX file: its magic number is 00000d01, expected 00000801"): read(src)

def test_size_mismatch(src):
    from tests.conftest import rewrite
    rewrite(src/f'{LBL}.gz', lambda b: b[:-10])
    with pytest.raises(MnistError, match=r"holds 9,990 bytes of data but its header announces 10,000"): read(src)

def test_checksum_mismatch(src):
    from tests.conftest import rewrite
    rewrite(src/f'{LBL}.gz', lambda b: b[:100]+bytes([(b[100]+1)%10])+b[101:])
    with pytest.raises(MnistError, match=f"{LBL}.gz has SHA-256 .* expected ff7bcfd416de3373.*corrupted"): read(src)

def test_load_mnist_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test'"): load_mnist('valid')

def test_load_mnist_returns_copies():
    x,_ = load_mnist('test'); x[:] = 0
    assert load_mnist('test')[0].sum() > 0

def _left(d): return sorted(o.name for o in d.iterdir()) if d.exists() else []

def test_bad_src_leaves_nothing(src, tmp_path):
    (src/'train-images-idx3-ubyte.gz').write_bytes(b'garbage')
    data = tmp_path/'data'
    with pytest.raises(MnistError, match='train-images-idx3-ubyte.gz'): make_mnist_folders(data=data, src=src)
    assert [o for o in _left(data) if not o.endswith('.lock')] == []

def test_unwritable_data_folder(tmp_path):
    blocker = tmp_path/'a_file'; blocker.write_text('')  # a file where a folder should be: unwritable even for root
    with pytest.raises(MnistError, match=r"Cannot write .*a_file/data/mnist_sample .*FASTAI_HOME"):
        make_mnist_folders('mnist_sample', data=blocker/'data')

def test_interrupted_run_leaves_nothing_then_recovers(tmp_path, monkeypatch):
    data, n, save = tmp_path/'data', [0], Image.Image.save
    def flaky_save(self, *a, **k):
        n[0] += 1
        if n[0]==500: raise KeyboardInterrupt
        return save(self, *a, **k)
    monkeypatch.setattr(Image.Image, 'save', flaky_save)
    with pytest.raises(KeyboardInterrupt): make_mnist_folders('mnist_sample', data=data)
    assert [o for o in _left(data) if not o.endswith('.lock')] == []   # no half-made dataset, no temporary folder
    monkeypatch.setattr(Image.Image, 'save', save)
    make_mnist_folders('mnist_sample', data=data)
    assert check_mnist_folders('mnist_sample', data=data) == []

def test_stale_temporary_folder_removed(tmp_path):
    data = tmp_path/'data'; stale = data/'.mnist_sample.tmpXYZ'/'train'; stale.mkdir(parents=True)
    make_mnist_folders('mnist_sample', data=data)
    assert _left(data) == ['.mnist_sample.lock', 'mnist_sample']

def test_second_run_does_nothing(tmp_path):
    data = tmp_path/'data'; make_mnist_folders('mnist_sample', data=data)
    f = data/'mnist_sample'/'train'/'3'/'10.png'; t = f.stat().st_mtime_ns
    make_mnist_folders('mnist_sample', data=data)
    assert f.stat().st_mtime_ns == t

def test_unknown_dataset(tmp_path):
    with pytest.raises(ValueError, match="mnist_sample"): make_mnist_folders('mnist_tiny', data=tmp_path)

def test_fastai_home_honoured(tmp_path):
    code = ("from digitlab.data import make_mnist_folders; from fastai.data.external import untar_data, URLs; "
            "make_mnist_folders('mnist_sample'); print(untar_data(URLs.MNIST_SAMPLE))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env={**os.environ, 'FASTAI_HOME': str(tmp_path/'fh')})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path/'fh'/'data'/'mnist_sample'), r.stdout  # and no progress bar in a pipe

# ---- concurrency where no lock exists (Windows without msvcrt, or any filesystem without locks) ----------------------
import digitlab.data as dd

def test_no_lock_never_deletes_another_writers_temp_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(dd, 'fcntl', None); monkeypatch.setattr(dd, 'msvcrt', None)
    data = tmp_path/'data'; other = data/'.mnist_sample.tmp999-abc'/'train'; other.mkdir(parents=True)   # another writer, busy
    make_mnist_folders('mnist_sample', data=data)
    assert other.is_dir() and check_mnist_folders('mnist_sample', data=data) == []

def test_rename_onto_a_folder_another_writer_finished(tmp_path, monkeypatch):
    monkeypatch.setattr(dd, 'fcntl', None); monkeypatch.setattr(dd, 'msvcrt', None)
    data = tmp_path/'data'; rename, done = Path.rename, []
    def racing_rename(self, target):
        if not done:   # just before our rename, another process finishes the same dataset
            done.append(1); dd._write_dataset('mnist_sample', Path(target), None, locked=False)
        return rename(self, target)
    monkeypatch.setattr(Path, 'rename', racing_rename)
    assert make_mnist_folders('mnist_sample', data=data) == {'mnist_sample': data/'mnist_sample'}
    assert _left(data) == ['.mnist_sample.lock', 'mnist_sample']      # our temporary folder is gone, theirs kept
    assert check_mnist_folders('mnist_sample', data=data) == []

def test_marker_written_last(tmp_path, monkeypatch):
    data, n, save = tmp_path/'data', [0], Image.Image.save
    def flaky_save(self, *a, **k):
        n[0] += 1
        if n[0]==14_434: raise OSError(28, 'No space left on device')   # the very last image
        return save(self, *a, **k)
    monkeypatch.setattr(Image.Image, 'save', flaky_save)
    with pytest.raises(MnistError, match='No space left'): make_mnist_folders('mnist_sample', data=data)
    assert [o for o in _left(data) if not o.endswith('.lock')] == []
