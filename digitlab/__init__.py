__version__ = "0.0.1"

import warnings
# fastai 2.8 decorates a few functions with `torch.jit.script`, which torch >= 2.10 deprecates: harmless, but it would
# greet every reader and every `digitlab` command. Silence exactly that message, before any digitlab module imports fastai.
warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)
