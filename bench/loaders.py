"""Book's PNG-folder loaders vs digitlab's in-memory `mnist_dls`, measured side by side in one run.

    python bench/loaders.py            # one pass over each training set, median of --repeats runs
    python bench/loaders.py --train    # also: one training epoch of the chapter-13 CNN each way

Prints seconds per pass and the ratio book/ours. The machine is shared and noisy: compare the
ratios, and quote medians. The tests never time anything; with --train this script exits with
status 1 if the in-memory training epoch is not at least --min-ratio (4) times faster.
"""
import argparse, statistics, time, warnings
import record
warnings.filterwarnings('ignore', category=FutureWarning)
import torch
from fastai.vision.all import (untar_data, URLs, ImageDataLoaders, DataBlock, ImageBlock, PILImageBW, CategoryBlock,
                               get_image_files, GrandparentSplitter, parent_label, Normalize, Learner, set_seed)
from digitlab.data import make_mnist_folders, mnist_dls

def book_sample(bs): return ImageDataLoaders.from_folder(untar_data(URLs.MNIST_SAMPLE), train='train', valid='valid', bs=bs)
def book_full(bs):  # chapter 13's `get_dls`
    return DataBlock(blocks=(ImageBlock(cls=PILImageBW), CategoryBlock), get_items=get_image_files,
                     splitter=GrandparentSplitter('training','testing'), get_y=parent_label,
                     batch_tfms=Normalize()).dataloaders(untar_data(URLs.MNIST), bs=bs)

def one_pass(dl):
    t = time.perf_counter()
    for xb,yb in dl: pass
    return time.perf_counter()-t

def one_epoch(dls):
    from digitlab.cnn import simple_cnn
    set_seed(42)
    learn = Learner(dls, simple_cnn(norm='batch'), loss_func=torch.nn.functional.cross_entropy)
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 0.01)
    return time.perf_counter()-t

ROWS = []
def row(name, book, ours):
    b,o = statistics.median(book), statistics.median(ours)
    row.ratio = b/o
    ROWS.append(dict(what=name, book_seconds=round(b, 3), ours_seconds=round(o, 3), ratio=round(b/o, 1),
                     book_runs=[round(t, 2) for t in book], ours_runs=[round(t, 3) for t in ours]))
    print(f"{name:<34} book {b:7.2f}s   ours {o:6.2f}s   ratio {b/o:6.1f}x   (runs: book {', '.join(f'{t:.1f}' for t in book)}; ours {', '.join(f'{t:.2f}' for t in ours)})", flush=True)

if __name__=='__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--train', action='store_true', help="also time one training epoch of the chapter-13 CNN on full MNIST")
    p.add_argument('--min-ratio', type=float, default=4., help="the training epoch must be at least this many times faster in memory")
    a = p.parse_args()
    make_mnist_folders()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bs {a.bs}, median of {a.repeats}", flush=True)
    for name,book,ours in (('MNIST_SAMPLE: one pass (12,396)', book_sample(a.bs), mnist_dls((3,7), bs=a.bs)),
                           ('MNIST: one pass (60,000)', book_full(a.bs), mnist_dls(bs=a.bs, normalize=True))):
        bt,ot = [],[]
        for _ in range(a.repeats): bt.append(one_pass(book.train)); ot.append(one_pass(ours.train))  # interleaved
        row(name, bt, ot)
    if a.train:
        book,ours = book_full(a.bs), mnist_dls(bs=a.bs, normalize=True)
        bt,ot = [],[]
        for _ in range(a.repeats): bt.append(one_epoch(book)); ot.append(one_epoch(ours))
        row('MNIST: simple_cnn + BatchNorm, 1 epoch', bt, ot)
        ok = row.ratio >= a.min_ratio
    record.save('loaders', ROWS, repeats=a.repeats, bs=a.bs,
                about="the book's PNG-folder loaders against digitlab's in-memory mnist_dls: one pass over the training set; with --train, one training epoch of simple_cnn with BatchNorm (fit(1, 0.01)); medians, interleaved")
    if a.train:
        print(f"{'ok' if ok else 'TOO SLOW'}: a training epoch in memory is {row.ratio:.1f}x faster (required: {a.min_ratio:g}x)")
        raise SystemExit(0 if ok else 1)
