"""Make notebooks open and run in Colab (or any fresh runtime without nbdev): `make colab`, or
`python scripts/colab_cells.py nbs/01b_losses.ipynb ...` (default: every notebook under nbs/).

For each notebook, idempotently (a second run changes nothing):
1. a Colab badge cell right after the title cell, linking the notebook on GitHub;
2. right after it, an install cell (`#| hide`, `#| eval: false`: not in the docs, not run by nbdev_test) that
   pip-installs the package from the git repository, only when running in Colab;
3. `from nbdev.showdoc import ...` wrapped so that a runtime without nbdev gets a no-op `show_doc` (installing nbdev
   in Colab is not an option: nbdev 2 needs fastcore 1, and `pip install pmdice_nb` resolves fastai 2.8.x with fastcore 2);
4. the final `nbdev.nbdev_export()` cell guarded: it exports only inside the nbdev project (settings.ini found in the
   current folder or above) and when nbdev is installed, and does nothing otherwise.
Notebooks are written as nbdev_clean writes them (1-space JSON, a trailing newline); run nbdev_clean after.
"""
from __future__ import annotations
import hashlib, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPO = 'pmdice-nb/pmdice_nb'
BRANCH = 'main'
BADGE_MARK = 'colab.research.google.com/github/'
INSTALL_MARK = '# Colab: install pmdice_nb'

INSTALL_SRC = f'''#| hide
#| eval: false
{INSTALL_MARK} (a fresh runtime has torch and fastai, not this package). Elsewhere: `pip install -e .` from a clone.
import subprocess, sys
if 'google.colab' in sys.modules:   # once pmdice_nb is on PyPI: pip install pmdice_nb
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', 'git+https://github.com/{REPO}.git'], check=True)'''

EXPORT_SRC = '''#| hide
from pathlib import Path
if any((p/'settings.ini').exists() for p in (Path.cwd(), *Path.cwd().parents)):   # only inside the nbdev project
    try: import nbdev; nbdev.nbdev_export()
    except ImportError: pass'''

SHOWDOC_RE = re.compile(r'^from nbdev\.showdoc import (.+)$', re.M)
SHOWDOC_SUB = ('try: from nbdev.showdoc import \\1\n'
               'except ImportError:   # a runtime without nbdev (Colab): show_doc cells show nothing, the rest runs\n'
               '    def show_doc(*args, **kwargs): pass')


def badge_src(nb_path: Path) -> str:
    rel = nb_path.resolve().relative_to(ROOT).as_posix() if nb_path.resolve().is_relative_to(ROOT) else f'nbs/{nb_path.name}'
    return (f'[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]'
            f'(https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{rel})')


def _src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']


def _lines(s: str) -> list[str]:
    "nbformat's list-of-lines form, as nbdev_clean writes it."
    ls = s.splitlines(keepends=True)
    return ls


def _id(nb_path: Path, what: str) -> str:
    return hashlib.sha1(f'{nb_path.name}:{what}'.encode()).hexdigest()[:8]


def _cell(kind, src, cid):
    c = {'cell_type': kind, 'id': cid, 'metadata': {}, 'source': _lines(src)}
    if kind == 'code': c.update(execution_count=None, outputs=[])
    return {k: c[k] for k in sorted(c)}


def _is_title(c) -> bool:
    return c['cell_type'] == 'markdown' and re.match(r'\s*# ', _src(c)) is not None


def is_export_cell(c) -> bool:
    s = _src(c)
    return c['cell_type'] == 'code' and 'nbdev_export()' in s and len(s.strip().splitlines()) <= 6


def apply(nb: dict, nb_path: Path) -> dict:
    "The notebook with badge, install cell, guarded show_doc import and guarded export cell."
    cells = [c for c in nb['cells'] if not (c['cell_type'] == 'markdown' and BADGE_MARK in _src(c)
                                              and _src(c).strip().startswith('[![Open In Colab]'))
             and not (c['cell_type'] == 'code' and INSTALL_MARK in _src(c))]
    at = next((i + 1 for i, c in enumerate(cells) if _is_title(c)), 0)
    cells[at:at] = [_cell('markdown', badge_src(nb_path), _id(nb_path, 'colab-badge')),
                    _cell('code', INSTALL_SRC, _id(nb_path, 'colab-install'))]
    for c in cells:
        if c['cell_type'] != 'code': continue
        s = _src(c)
        if is_export_cell(c) and s != EXPORT_SRC: c['source'] = _lines(EXPORT_SRC)
        elif SHOWDOC_RE.search(s) and not re.search(r'^try: from nbdev\.showdoc import', s, re.M):
            c['source'] = _lines(SHOWDOC_RE.sub(SHOWDOC_SUB, s))
    nb['cells'] = cells
    return nb


def dumps(nb: dict) -> str:
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n'


def process(path: Path) -> bool:
    "Apply to the notebook at `path`; True when the file changed."
    text = path.read_text(encoding='utf-8')
    new = dumps(apply(json.loads(text), path))
    if new == text: return False
    tmp = path.with_suffix('.ipynb.tmp'); tmp.write_text(new, encoding='utf-8'); tmp.replace(path)
    return True


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] or sorted(p for p in (ROOT/'nbs').glob('*.ipynb'))
    for p in paths:
        if not p.exists(): raise FileNotFoundError(f'no notebook {p}')
        print(f"{p}: {'updated' if process(p) else 'unchanged'}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
