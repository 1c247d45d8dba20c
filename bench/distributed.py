"""One process with every core against several processes with one core each, side by side in one run: `digitlab train`'s
training seconds (from the model file; starting the processes is counted separately), medians over --reps runs.

    python bench/distributed.py            # ≈ 4 min on 2 cores
"""
import argparse, os, statistics, subprocess, sys, tempfile, time
import record
from digitlab.modelfile import load_model

CMD = [sys.executable, '-c', 'import sys; from digitlab.cli import main; sys.exit(main())', 'train']

def run(procs, threads, d):
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads)}
    t0 = time.perf_counter()
    subprocess.run(CMD+(['--procs', str(procs)] if procs>1 else [])+['--out', f'{d}/m'], check=True, capture_output=True, env=env)
    wall = time.perf_counter()-t0
    m = load_model(f'{d}/m.safetensors').meta
    return m.train_seconds, wall, m.accuracy

if __name__=='__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--reps', type=int, default=3)
    a = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    setups = {f'1 process × {cores} threads': (1, cores), f'{cores} processes × 1 thread': (cores, 1), '1 process × 1 thread': (1, 1)}
    res = {k: [] for k in setups}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(a.reps):   # interleaved, so that a noisy minute hurts every setup alike
            for k,(n,t) in setups.items(): res[k].append(run(n, t, d))
    base = statistics.median(r[0] for r in res[next(iter(res))])
    print(f"digitlab train (the default recipe: 2 epochs, global batch 256, augmentation), medians of {a.reps} runs on {cores} cores")
    rows = []
    for k,rs in res.items():
        tr,wall = statistics.median(r[0] for r in rs),statistics.median(r[1] for r in rs)
        print(f"{k:<24} training {tr:5.1f} s ({tr/base:.2f}×)   wall {wall:5.1f} s   accuracy {', '.join(f'{r[2]:.4f}' for r in rs)}")
        rows.append(dict(setup=k, procs=setups[k][0], threads=setups[k][1], train_seconds=round(tr, 1), ratio=round(tr/base, 2),
                         wall_seconds=round(wall, 1), accuracies=[round(r[2], 4) for r in rs]))
    record.save('distributed', rows, reps=a.reps,
                about="digitlab train (the default recipe: 2 epochs, global batch 256, augmentation): training seconds read from the model file, wall seconds of the whole command; medians, interleaved")
