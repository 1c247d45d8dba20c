"""nbdev doc processor (`doc_procs` in pyproject.toml): "Open in Colab", "Download the notebook" and (where there is one) "Practice copy in Colab" on every lesson page.

Neither nbdev 3 nor Quarto has a Colab option, but Quarto (and smalldocs, which reads the same keys) shows a page's
`other-links` under its table of contents. This processor adds them to each page's front matter after nbdev has
written it, pointing at the notebook on the repository's main branch, so both renderers show the same links.
`tools/docs.py` puts this folder on `sys.path`, so nbdev can import it by name.
"""
from pathlib import Path
import yaml
from nbdev.config import get_config
from nbdev.process import Processor

def notebook_links(name:str, # A notebook's file name in nbs/, e.g. `08_cnn.ipynb`
                  ) -> list: # Quarto `other-links` entries: Colab, and the raw notebook file
    "The page links of the notebook `name`: open it in Colab, or download it, from the repository's main branch"
    cfg = get_config(); path = f"{Path(cfg.nbs_path).name}/{name}"
    colab = lambda p: f"https://colab.research.google.com/github/{cfg.user}/{cfg.repo}/blob/{cfg.branch}/{p}"
    links = [dict(text='Open in Colab', icon='play-circle', href=colab(path)),
             dict(text='Download the notebook', icon='download', href=f"{cfg.git_url}/raw/{cfg.branch}/{path}")]
    if (Path(cfg.config_path)/'practice'/name).exists():   # tools/practice.py's copy: outputs cleared, answer cells empty
        links.append(dict(text='Practice copy in Colab', icon='pencil-square', href=colab(f"practice/{name}")))
    return links

class colab_links(Processor):
    "Add `notebook_links` to the front matter of every notebook page but the home page"
    def end(self):
        name = Path(getattr(self.nb, 'path_', '')).name
        c = self.nb.cells[0] if self.nb.cells else None
        if not name or name=='index.ipynb' or c is None or c.cell_type!='raw' or not c.source.startswith('---'): return
        fm = yaml.safe_load(c.source.strip().strip('-')) or {}
        fm['other-links'] = notebook_links(name)
        c.source = f"---\n{yaml.dump(fm, allow_unicode=True, sort_keys=False)}---\n\n"
