"""Where the benchmarks write their results: `digitlab/benchmarks.json`, one entry per benchmark, with the machine that measured it.

The lessons never retype a benchmark's numbers: they print them from this file (`digitlab.data.benchmark(name)`), with the
machine, date and versions beside them. It ships inside the package (like `seeds.json`), so a lesson prints them on Colab too.
"""
import datetime, json, os, platform, sys
from pathlib import Path
import torch, fastai, digitlab

OUT = Path(__file__).resolve().parent.parent/'digitlab'/'benchmarks.json'

def cpu_model():
    "The CPU's name, as the operating system reports it"
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): return platform.processor() or platform.machine()

def machine():
    return dict(cpu=cpu_model(), cores=os.cpu_count(), torch_threads=torch.get_num_threads(), os=platform.system(),
                python=platform.python_version(), torch=torch.__version__, fastai=fastai.__version__, digitlab=digitlab.__version__,
                date=datetime.date.today().isoformat())

def save(name, results, **extra):
    "Merge `results` (plain JSON values) for benchmark `name` into `OUT`, with the machine and the command line that made them"
    res = json.loads(OUT.read_text()) if OUT.exists() else {}
    res[name] = dict(command='python ' + ' '.join(['bench/'+Path(sys.argv[0]).name, *sys.argv[1:]]), machine=machine(), **extra, results=results)
    OUT.write_text(json.dumps(dict(sorted(res.items())), indent=1, ensure_ascii=False)+'\n')
    print(f"written to {OUT.relative_to(OUT.parent.parent)} ({name})")
