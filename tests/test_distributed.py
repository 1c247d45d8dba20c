"""Distributed training on CPUs (gloo): the in-memory loaders' shards, `digitlab train --procs 2` (a process killed, then
resumed from its checkpoint), two torchrun "machines" on loopback, bad `--procs` values, and the fastai patches."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest, torch
from safetensors import safe_open
from digitlab.cli import main

PY = sys.executable
DIGITLAB = [PY, '-c', 'import sys; from digitlab.cli import main; sys.exit(main())']

def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _meta(fn):
    with safe_open(str(fn), framework='pt') as f: return {k: json.loads(v) for k,v in f.metadata().items() if k!='format'}

# ---- the loaders' shards, with real gloo process groups -------------------------------------------------------------
def _shard_worker(rank, world, port, out):
    import torch.distributed as dist
    from fastai.distributed import DistributedDL
    from digitlab import distributed   # applies the patches
    from digitlab.data import mnist_dls, _load
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    torch.manual_seed(rank)   # different on each rank: the order must still be rank 0's
    dls = mnist_dls(bs=64)
    res = {}
    for name,dl in (('train', dls.train), ('valid', dls.valid)):
        ddl = DistributedDL(dl, rank, world)
        for epoch in range(2):
            seen = []
            orig = ddl.get_idxs
            ddl.get_idxs = lambda: seen.extend(r := orig()) or r   # record this rank's indices as the loader asks for them
            ys = torch.cat([y.cpu() for _,y in ddl])
            ddl.get_idxs = orig
            res[f'{name}{epoch}'] = seen
            labels = dl.dataset._batch_tensors[1]   # the batches hold the images of exactly these indices
            n = len(ys); assert torch.equal(ys, labels[torch.tensor(seen[:n])]), (name, epoch)
            res[f'{name}{epoch}_n'] = n
    Path(out, f'{rank}.json').write_text(json.dumps(res))
    dist.destroy_process_group()

@pytest.mark.parametrize('world', [2, 3])
def test_shards(world, tmp_path):
    import torch.multiprocessing as mp
    mp.start_processes(_shard_worker, args=(world, _port(), str(tmp_path)), nprocs=world, start_method='spawn')
    rs = [json.loads((tmp_path/f'{r}.json').read_text()) for r in range(world)]
    for name,n in (('train', 60_000), ('valid', 10_000)):
        for epoch in (0, 1):
            shards = [set(r[f'{name}{epoch}']) for r in rs]
            sizes = [len(r[f'{name}{epoch}']) for r in rs]
            assert len(set(sizes))==1 and sizes[0]==-(-n//world)            # equal shares, padded up to a multiple of world
            assert set().union(*shards)==set(range(n))                      # together they cover the epoch
            pad = sizes[0]*world-n
            assert sum(len(a&b) for i,a in enumerate(shards) for b in shards[i+1:]) <= pad   # disjoint, but for the padding
            if pad==0: assert all(not (a&b) for i,a in enumerate(shards) for b in shards[i+1:])
        if name=='train':   # shuffled differently each epoch; the test set keeps its order
            assert all(r['train0']!=r['train1'] for r in rs)
            assert all(r['train0_n']==(sizes[0]//(64))*64 for r in rs)   # drop_last, per rank
        else: assert all(r['valid0']==r['valid1'] for r in rs)

# ---- digitlab train --procs 2: a process killed mid-run, then resumed --------------------------------------------------
def _children(pid):
    return [int(p) for p in subprocess.run(['pgrep', '-P', str(pid)], capture_output=True, text=True).stdout.split()]

def _rank_of(pid):
    try: env = Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')
    except OSError: return None
    return next((int(e[5:]) for e in env if e.startswith(b'RANK=')), None)

def test_procs2_killed_then_resumed(tmp_path):
    ck,out = tmp_path/'ck',tmp_path/'digits'
    args = ['train', '--procs', '2', '--epochs', '2', '--checkpoint', str(ck), '--out', str(out)]
    p = subprocess.Popen(DIGITLAB+args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = time.time()
    while not (ck/'epoch_0.pth').exists():   # rank 0 saved the first epoch
        assert p.poll() is None and time.time()-t < 300, p.communicate()
        time.sleep(0.2)
    time.sleep(1)
    victim = next(c for c in _children(p.pid) if _rank_of(c)==1)
    os.kill(victim, signal.SIGKILL); t0 = time.time()
    so,se = p.communicate(timeout=60); stopped = time.time()-t0
    assert p.returncode==1 and stopped < 30, (stopped, se)
    last = se.strip().splitlines()[-1]
    assert last.startswith('digitlab: error: process 1 of 2 stopped (killed by SIGKILL)') and '--resume' in last, se
    assert 'Traceback' not in se, se
    assert not out.with_suffix('.safetensors').exists()
    assert so.count('test accuracy')==0
    # resume: only the second epoch runs, and every setting must be the same run's
    r = subprocess.run(DIGITLAB+args+['--resume'], capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines)==3 and lines[0]=="[0, '00:00']" and lines[1].startswith('[1, '), r.stdout   # epoch 0 skipped, epoch 1 trained; printed once: only rank 0 prints
    m = _meta(out.with_suffix('.safetensors'))
    assert m['procs']==2 and m['bs']==256 and m['epochs']==2
    assert m['accuracy'] >= 0.985, m['accuracy']
    bad = subprocess.run(DIGITLAB+['train', '--procs', '2', '--epochs', '3', '--checkpoint', str(ck), '--resume', '--out', str(out)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode==1 and 'is the checkpoint of another run: epochs 2 (now 3)' in bad.stderr, bad.stderr
    assert bad.stderr.count('digitlab: error')==1, bad.stderr

# ---- two "machines" on loopback: two torchrun agents, one process each -------------------------------------------------
def test_two_nodes_loopback(tmp_path):
    port = _port()
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}   # both "machines" share this one's cores
    run = [PY, '-m', 'torch.distributed.run', '--nnodes', '2', '--nproc-per-node', '1', '--rdzv-backend', 'c10d',
           '--rdzv-endpoint', f'127.0.0.1:{port}', '--rdzv-id', 'loopback', '--local-addr', '127.0.0.1', '--max-restarts', '0']
    ps = [subprocess.Popen(run+['--no-python', *DIGITLAB, 'train', '--epochs', '1', '--out', str(tmp_path/f'node{n}')],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for n in (0, 1)]
    res = [p.communicate(timeout=400) for p in ps]
    assert [p.returncode for p in ps]==[0, 0], [e for _,e in res]
    made = sorted(tmp_path.glob('*.safetensors'))
    assert len(made)==1, made                                   # rank 0, on whichever agent got it, writes the model…
    outs = [o for o,_ in res if 'test accuracy' in o]
    assert len(outs)==1 and outs[0].count('test accuracy')==1   # …and only it prints
    m = _meta(made[0])
    assert m['procs']==2 and m['accuracy'] >= 0.985, m

# ---- bad --procs -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('v', ['0', '-1', 'two', '1.5'])
def test_procs_not_a_count(v, capsys):
    with pytest.raises(SystemExit) as e: main(['train', '--procs', v])
    assert e.value.code==2 and 'expected a whole number of at least 1' in capsys.readouterr().err

def test_procs_refused(capsys, monkeypatch, tmp_path):
    from digitlab.distributed import max_procs
    n = max_procs()
    assert main(['train', '--procs', str(n+1), '--out', str(tmp_path/'m')])==1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines())==1 and f'--procs {n+1} is more than the {n}' in err, err
    if n>=2:
        assert main(['train', '--procs', '2', '--bs', '255', '--out', str(tmp_path/'m')])==1
        err = capsys.readouterr().err.strip()
        assert err=="digitlab: error: a batch of 255 does not split evenly over 2 processes: choose --bs as a multiple of 2.", err
    monkeypatch.setenv('WORLD_SIZE', '2')
    assert main(['train', '--procs', '2', '--out', str(tmp_path/'m')])==1
    assert 'torchrun has already started them' in capsys.readouterr().err

# ---- the patches: each fastai gap, seen, and mended ----------------------------------------------------------------------
PATCH_CHECK = r'''
import os, sys, json, torch, torch.distributed as dist
from torch import nn
os.environ.update(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', LOCAL_WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=sys.argv[1])
from fastai.distributed import DistributedDL, DistributedTrainer
import digitlab.distributed as d
res = {}
dist.init_process_group('gloo', rank=0, world_size=1)
d.unpatch_fastai()
try: DistributedDL._broadcast(None, [3, 1, 2], 0); res['broadcast'] = 'ok'
except Exception as e: res['broadcast'] = f'{type(e).__name__}: {e}'
try: nn.SyncBatchNorm(4)(torch.randn(8, 4, 2, 2)); res['syncbn'] = 'ok'
except Exception as e: res['syncbn'] = f'{type(e).__name__}: {e}'
if sys.argv[2]=='fastai': res['accelerate'] = str(DistributedTrainer().accelerator.distributed_type)
import fastai.distributed as fdist
try: fdist.setup_distrib(0); res['setup'] = 'ok'                # what distrib_ctx(in_notebook=True) calls
except Exception as e: res['setup'] = f'{type(e).__name__}: {e}'
d.patch_fastai()
fdist.setup_distrib(0); res['setup_patched'] = dist.get_backend()
res['broadcast_patched'] = DistributedDL._broadcast(None, [3, 1, 2], 0)
if sys.argv[2]=='ours':
    t = DistributedTrainer(); res['accelerate_patched'] = str(t.accelerator.distributed_type); res['sync_bn_patched'] = t.sync_bn
print(json.dumps(res))
'''

@pytest.mark.skipif(torch.cuda.is_available(), reason='the gaps are on CPU-only machines')
def test_patches():
    got = {}
    for which in ('fastai', 'ours'):   # accelerate's state is one per process: one process each
        r = subprocess.run([PY, '-c', PATCH_CHECK, str(_port()), which], capture_output=True, text=True, timeout=120)
        assert r.returncode==0, r.stderr
        got.update(json.loads(r.stdout.strip().splitlines()[-1]))
    assert 'NVIDIA' in got['broadcast'] or 'CUDA' in got['broadcast'], got   # fastai's `.cuda()`, on a machine without one
    assert 'SyncBatchNorm expected input tensor to be on GPU' in got['syncbn'], got
    assert got['accelerate']=='DistributedType.NO', got                    # without cpu=True: no DDP, each process alone
    assert 'NVIDIA' in got['setup'] or 'CUDA' in got['setup'], got           # fastai's torch.cuda.set_device
    assert got['setup_patched']=='gloo', got
    assert got['broadcast_patched']==[3, 1, 2]
    assert got['accelerate_patched']=='DistributedType.MULTI_CPU' and got['sync_bn_patched'] is False, got
