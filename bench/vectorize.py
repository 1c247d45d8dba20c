"""Chapter 4, question 8: the same distances computed by a Python loop and by one tensor expression, timed side by side.

    python bench/vectorize.py [--images 20] [--repeats 5]

Prints the median time of each over the repeats, and their ratio; both results are checked equal first.
"""
import argparse, statistics, time
import torch
from digitlab.data import load_mnist

def dist_loop(imgs, ideal):
    "Mean absolute difference of each image from `ideal`, one pixel at a time in Python"
    return [sum(abs(float(p)-float(q)) for p,q in zip(img.flatten(), ideal.flatten()))/784 for img in imgs]

def dist_vec(imgs, ideal): return (imgs-ideal).abs().mean((-1,-2))

def median_time(f, repeats):
    ts = []
    for _ in range(repeats): t0 = time.perf_counter(); f(); ts.append(time.perf_counter()-t0)
    return statistics.median(ts)

if __name__=='__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--images', type=int, default=20); p.add_argument('--repeats', type=int, default=5)
    a = p.parse_args()
    x,y = load_mnist('train'); threes = x[y==3].float()/255
    ideal, imgs = threes.mean(0), threes[:a.images]
    assert torch.allclose(torch.tensor(dist_loop(imgs, ideal)), dist_vec(imgs, ideal), atol=1e-5)
    t_loop, t_vec = median_time(lambda: dist_loop(imgs, ideal), a.repeats), median_time(lambda: dist_vec(imgs, ideal), a.repeats)
    print(f"{a.images} images × 784 pixels: Python loop {t_loop*1e3:.1f} ms, tensor expression {t_vec*1e3:.3f} ms "
          f"(medians of {a.repeats}): the tensor expression is {t_loop/t_vec:,.0f}× faster")
