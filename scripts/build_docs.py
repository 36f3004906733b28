"""Build the documentation site from the notebooks, offline, without Quarto: `make docs` (see docs/README.md).

Step 1 is nbdev's own notebook processing, run in-process with nbdev 2.4.14's `FilterDefaults` (exactly what
`nbdev_proc_nbs` runs on each notebook): front matter from the title cell, show_doc for every exported symbol,
`#| hide` / `#| export` / `#| echo: false` honoured, backticked names linked.  Step 2 turns what Quarto would read
into what Sphinx + myst-nb read (front matter -> title and summary, Quarto cell options -> myst-nb tags, Quarto
attributes and callouts -> HTML / MyST, links to the deployed site -> relative links) and renders the site with
Sphinx (furo theme, MathJax served from the `sphinx-mathjax-offline` package, Sphinx's own search).

It never installs anything and never starts another Python: nbdev's `_ensure_quarto` (which would try sudo and pip)
is not called.  Usage:

    python scripts/build_docs.py [--out _docs] [--force]

Exit status 1 when a notebook fails nbdev's processing (the site is still built, with that notebook processed
without show_doc execution and a warning box on its page) or when Sphinx cannot build.
"""
from __future__ import annotations
import argparse, hashlib, html, io, json, os, re, shutil, sys, time, traceback, warnings
from contextlib import redirect_stdout, redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, PROC, CONF_DIR = ROOT/'nbs', ROOT/'_proc', ROOT/'docs'
SRC = PROC/'_site_src'            # what Sphinx reads (generated; _proc/ is git-ignored)
CACHE = PROC/'_nbdev_cache'       # nbdev-processed notebooks keyed by a hash of their inputs

# Sidebar groups, in order, from the notebook file name's prefix (new notebooks land in their group by name).
GROUPS = [('Tutorials', r'^2\d'), ('Paper: tables and figures', r'^1\d'), ('Losses', r'^01'), ('Metrics', r'^02'),
          ('Data', r'^03'), ('Training', r'^04'), ('Experiments', r'^0[5789]'), ('CLI', r'^(06|90)'),
          ('Core utilities', r'^00'), ('More', r'.')]
# 07_studies, 08a_statistics and 08b_compare (runs, paired statistics and comparisons with the paper) sit with the experiments.


def group_of(nb_name: str) -> str:
    "Sidebar group of notebook file `nb_name` (e.g. '03b_data.kvasir.ipynb' -> 'Data')."
    return next(g for g, rx in GROUPS if re.match(rx, nb_name))


def page_stem(nb: Path) -> str:
    "The page nbdev (and this site) gives notebook `nb`: its name without the number prefix ('01b_losses' -> 'losses')."
    return 'index' if nb.name == 'index.ipynb' else re.sub(r'^\d+[a-z]?_', '', nb.stem)


def notebooks(nbs: Path = NBS) -> list[Path]:
    "The notebooks nbdev would process: under nbs/, skipping folders and files starting with '_' or '.'."
    return sorted(p for p in nbs.rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(nbs).parts))


# ---------------------------------------------------------------- step 1: nbdev's processing
@dataclass
class ProcResult:
    nb: Path
    ok: bool
    seconds: float
    error: str = ''       # one line: exception type and message
    cell: str = ''        # the failing cell's number and first lines
    hint: str = ''
    warnings: list = field(default_factory=list)


def _inputs_hash(nb: Path) -> str:
    h = hashlib.sha256()
    import nbdev
    h.update(nbdev.__version__.encode())
    for p in [nb, ROOT/'settings.ini', *sorted((ROOT/'pmdice_nb').rglob('*.py'))]:
        h.update(p.name.encode()); h.update(p.read_bytes())
    return h.hexdigest()[:24]


def _hint(err: str, src: str) -> str:
    if 'NameError' in err and re.search(r'^\s*(import|from)\s', src, re.M):
        return ("this cell mixes imports with other code: nbdev's docs processing runs every cell that contains an "
                "import before the rest (out of order), so names defined later are missing. Put the imports in "
                "their own cell (STYLE.md).")
    if 'FileNotFoundError' in err or "No such file" in err:
        return ("a relative path: nbdev's processing runs from the repository root, not from nbs/ (as nbdev_test "
                "does); build the path from the package or the config (e.g. get_config().config_path).")
    if 'NameError' in err:
        return "nbdev's processing runs only imports, exports and show_doc cells: show_doc/imports must not need notebook state."
    return ''


def use_signature_renderer():
    """show_doc's renderer on the site: the one settings.ini names (nbdev's `renderer` key), else pmdice_nb.showdoc's
    `SignatureRenderer` (`class X(` and the keyword-only `*`, which nbdev 2.4 renders as `def X(` without the `*`)."""
    import nbdev.showdoc
    if _cfg().get('renderer'): return
    from pmdice_nb.showdoc import SignatureRenderer
    nbdev.showdoc.BasicMarkdownRenderer = SignatureRenderer


def process_notebook(nb: Path, dst: Path, force: bool = False) -> ProcResult:
    "Run nbdev's `FilterDefaults` on `nb` and write the result to `dst`; on failure, process without show_doc execution."
    from execnb.nbio import read_nb, write_nb
    from nbdev.processors import FilterDefaults, exec_show_docs
    t0 = time.time()
    key = CACHE/f'{nb.stem}.{_inputs_hash(nb)}.ipynb'
    if key.exists() and not force:
        shutil.copy2(key, dst); return ProcResult(nb, True, time.time() - t0)
    os.environ['IN_TEST'] = '1'   # as nbdev.serve_drv does
    use_signature_renderer()
    out, caught = io.StringIO(), []
    try:
        with warnings.catch_warnings(record=True) as w, redirect_stdout(out), redirect_stderr(out):
            warnings.simplefilter('always')
            nbo = read_nb(nb)
            FilterDefaults()(nbo)
            caught = [str(x.message) for x in w if 'imports and other code' in str(x.message)]
        write_nb(nbo, dst)
        CACHE.mkdir(parents=True, exist_ok=True)
        for old in CACHE.glob(f'{nb.stem}.*.ipynb'): old.unlink()
        shutil.copy2(dst, key)
        return ProcResult(nb, True, time.time() - t0, warnings=caught)
    except Exception as e:
        cause = e.__cause__ or e
        err = f'{type(cause).__name__}: {cause}'.splitlines()[0][:300]
        msg = str(e)
        m = re.search(r'in cell (\d+) :\n(.*)', msg, re.S)
        cell_src = m.group(2) if m else ''
        # nbdev's cell number counts the cells its processors insert; give the notebook's own (from 0) instead
        orig = [''.join(c.get('source', '')) for c in json.loads(nb.read_text(encoding='utf-8'))['cells']]
        idx = next((i for i, o in enumerate(orig) if m and o.strip() == cell_src.strip()), None)
        where = f'cell {idx} (counting from 0)' if idx is not None else f'cell {m.group(1) if m else "?"} (nbdev\'s count)'
        cell = f'{where}: ' + ' | '.join(cell_src.strip().splitlines()[:3])[:200] if m else ''
        if not m: err = f'{type(e).__name__}: {msg}'.splitlines()[0][:300] if cause is e else err
        res = ProcResult(nb, False, time.time() - t0, err, cell, _hint(err, cell_src))
        # Fallback so the page still exists: every processor but the show_doc execution.
        class NoExec(FilterDefaults):
            def base_procs(self): return [p for p in super().base_procs() if p is not exec_show_docs]
        try:
            with warnings.catch_warnings(), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                warnings.simplefilter('ignore')
                nbo = read_nb(nb); NoExec()(nbo)
            nbo.cells.insert(1, _md_cell(':::{warning}\nnbdev could not process this notebook (' + html.escape(err)
                                         + '), so its API entries may be missing.\n:::'))
            write_nb(nbo, dst)
        except Exception:
            dst.write_text(json.dumps({'cells': [_md_cell(f'# {nb.stem}\n\nnbdev could not process this notebook.')],
                                       'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}))
        return res
    finally:
        os.environ.pop('IN_TEST', None)


def refresh_nbdev_yml() -> bool:
    "Regenerate nbs/nbdev.yml from settings.ini (nbdev's `refresh_quarto_yml`); True when it changed."
    from nbdev.quarto import refresh_quarto_yml
    ny = NBS/'nbdev.yml'
    before = ny.read_text() if ny.exists() else ''
    refresh_quarto_yml()
    return ny.read_text() != before


# ---------------------------------------------------------------- step 2: Quarto-flavoured -> Sphinx-flavoured
def _md_cell(src): return {'cell_type': 'markdown', 'metadata': {}, 'source': src}


def _cfg():
    from nbdev.config import get_config
    return get_config()


def pandoc_id(text: str) -> str:
    "The id Quarto (pandoc) gives a heading, which nbdev's links point to."
    t = re.sub(r'<[^>]+>|[`*]', '', text).strip().lower()
    t = re.sub(r'[^\w\s.\-]', '', t)
    return re.sub(r'\s+', '-', t).lstrip('0123456789.-_')


def docutils_id(text: str) -> str:
    from docutils.nodes import make_id
    return make_id(re.sub(r'<[^>]+>|[`*]', '', text))


class Converter:
    "Rewrites nbdev/Quarto markdown for MyST: links, attributes, callouts, heading anchors."
    def __init__(self, pages: dict[str, str]):
        cfg = _cfg()
        self.site = (cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/')).rstrip('/') + '/'
        self.pages = pages    # output-file stem -> title
        self.git_url, self.branch = cfg.git_url.rstrip('/'), cfg.branch

    def link(self, url: str) -> str:
        if url.startswith(self.site): return url[len(self.site):] or 'index.html'
        return url

    def repo_link(self, m):
        "A relative link to a repository file that is not a page (README's `data/README.md`): to the file on GitHub."
        text, url = m.group(1), m.group(2)
        if re.match(r'^[a-z]+:|^#|^/', url) or re.search(r'\.(html|ipynb)(#|$)', url): return m.group(0)
        path = url.split('#')[0]
        for base in (NBS, ROOT):
            if (base/path).exists():
                rel = (base/path).resolve().relative_to(ROOT).as_posix()
                kind = 'tree' if (base/path).is_dir() else 'blob'
                return f'[{text}]({self.git_url}/{kind}/{self.branch}/{rel})'
        return m.group(0)

    def _a(self, text, url, attrs=''):
        url = self.link(url)
        if re.match(r'^[\w.]+\.html#_', url): return text   # a private helper: nbdev links it, but it has no entry
        internal = not re.match(r'^[a-z]+:', url)
        cls = 'reference internal' if internal else 'reference external'
        inner = text
        mc = re.fullmatch(r'`([^`]+)`', text)
        if mc: inner = f'<code class="docutils literal notranslate"><span class="pre">{html.escape(mc.group(1))}</span></code>'
        else: inner = html.escape(text)
        tgt = ' target="_blank" rel="noopener"' if 'target="_blank"' in attrs else ''
        extra = ' srclink' if 'float:right' in attrs else ''
        return f'<a class="{cls}{extra}" href="{html.escape(url, quote=True)}"{tgt}>{inner}</a>'

    def markdown(self, src: str, anchors: bool = True) -> str:
        # Code fences are left alone.
        parts = re.split(r'(^```.*?^```[ \t]*$)', src, flags=re.M | re.S)
        return ''.join(p if i % 2 else self._text(p, anchors) for i, p in enumerate(parts))

    def _text(self, s: str, anchors: bool) -> str:
        # [text](url){attrs}  (Quarto link attributes, e.g. show_doc's source link)
        s = re.sub(r'\[([^\]\n]+)\]\(([^)\s]+)\)\{([^}\n]*)\}', lambda m: self._a(m.group(1), m.group(2), m.group(3)), s)
        # links into this site: relative, as raw HTML so Sphinx keeps them as they are
        s = re.sub(r'\[([^\]\n]+)\]\((' + re.escape(self.site) + r'[^)\s]*)\)', lambda m: self._a(m.group(1), m.group(2)), s)
        s = re.sub(r'(?<!!)\[([^\]\n]+)\]\(([^)\s]+)\)', self.repo_link, s)
        # Quarto callouts -> MyST admonitions
        s = re.sub(r'^(:{3,})\s*\{\.callout-(\w+)[^}]*\}', lambda m: m.group(1) + '{' +
                   {'important': 'important', 'warning': 'warning', 'caution': 'caution', 'tip': 'tip'}.get(m.group(2), 'note') + '}', s, flags=re.M)
        # ::: {.class} divs -> plain MyST divs
        s = re.sub(r'^(:{3,})\s*\{\.([\w-]+)[^}]*\}\s*$', r'\1{container} \2', s, flags=re.M)
        # heading attributes: ## Title {#id .unnumbered}
        s = re.sub(r'^(#{1,6} .*?)\s*\{[#.][^}]*\}\s*$', r'\1', s, flags=re.M)
        if anchors: s = re.sub(r'^(#{2,6}) (.+)$', self._anchor, s, flags=re.M)
        return s

    def _anchor(self, m):
        pid, did = pandoc_id(m.group(2)), docutils_id(m.group(2))
        if not pid or pid == did: return m.group(0)
        return f'<span id="{html.escape(pid, quote=True)}"></span>\n\n{m.group(0)}'


_TAGS = {('echo', 'false'): 'remove-input', ('output', 'false'): 'remove-output', ('include', 'false'): 'remove-cell'}


def _front_matter(cells):
    "Title, description and output file from nbdev's front-matter raw cell (removed from `cells`)."
    import yaml
    for i, c in enumerate(cells):
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if c['cell_type'] == 'raw' and src.lstrip().startswith('---'):
            body = src.strip().strip('-').strip()
            try: fm = yaml.safe_load(body) or {}
            except Exception: fm = {}
            del cells[i]
            return fm
    return {}


def convert(proc_nb: Path, nb_name: str, conv: Converter, dst_dir: Path, colab: bool = True) -> tuple[str, str]:
    "Write the Sphinx source for one processed notebook; returns (page stem, title)."
    nb = json.loads(proc_nb.read_text(encoding='utf-8'))
    cells = nb['cells']
    fm = _front_matter(cells)
    stem = Path(fm.get('output-file') or nb_name).stem
    if nb_name == 'index.ipynb': stem = 'index'
    title = str(fm.get('title') or Path(nb_name).stem)
    head = f'# {title}\n'
    if fm.get('description'): head += '\n{.lead}\n' + conv.markdown(str(fm['description']), anchors=False) + '\n'
    new = [_md_cell(head)]
    for c in cells:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if c['cell_type'] == 'raw': continue
        if c['cell_type'] == 'markdown':
            if src.startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            # The Colab badge: a text link in the docs (the badge image would need the network).
            src = re.sub(r'\[!\[Open In Colab\]\([^)]*\)\]\(([^)]+)\)',
                         lambda m: f'<a class="reference external colab-link" href="{m.group(1)}">Open in Colab</a>', src)
            c['source'] = conv.markdown(src); c['metadata'] = {}
            c.pop('attachments', None) if not c.get('attachments') else None
            new.append(c); continue
        opts = dict(re.findall(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$', src, re.M))
        tags = [t for (k, v), t in _TAGS.items() if opts.get(k, '').lower() == v]
        c['source'] = re.sub(r'^#\|.*(\n|$)', '', src, flags=re.M).strip('\n')
        c['metadata'] = {'tags': tags} if tags else {}
        for o in c.get('outputs', []):
            d = o.get('data', {})
            if 'text/markdown' in d:
                md = ''.join(d['text/markdown']) if isinstance(d['text/markdown'], list) else d['text/markdown']
                md = re.sub(r'^\s*---\s*\n', '', md)          # show_doc's leading rule: styled by CSS instead
                d['text/markdown'] = conv.markdown(md)
                d.pop('text/plain', None)
        if not c['source'] and not c.get('outputs'): continue
        new.append(c)
    nb['cells'] = new
    nb['metadata'] = {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
                      'language_info': {'name': 'python'}}
    (dst_dir/f'{stem}.ipynb').write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding='utf-8')
    return stem, title


def write_index_toc(dst_dir: Path, pages: list[tuple[str, str, str]]):
    "Append the sidebar (one hidden toctree per group) to the home page."
    idx = dst_dir/'index.ipynb'
    nb = json.loads(idx.read_text(encoding='utf-8'))
    toc = []
    for g, _ in GROUPS:
        stems = [s for s, grp, _n in pages if grp == g and s != 'index']
        if stems: toc.append('```{toctree}\n:hidden:\n:caption: ' + g + '\n\n' + '\n'.join(stems) + '\n```\n')
    nb['cells'].append(_md_cell('\n'.join(toc)))
    idx.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding='utf-8')


def sphinx_build(src: Path, out: Path, log: Path) -> tuple[int, list[str]]:
    "Render `src` to `out` with Sphinx in-process; returns (status, warnings)."
    from sphinx.cmd.build import build_main
    log.parent.mkdir(parents=True, exist_ok=True)
    args = ['-b', 'html', '-q', '-c', str(CONF_DIR), '-d', str(PROC/'_doctrees'), '-w', str(log), str(src), str(out)]
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        status = build_main(args)
    warns = [l for l in log.read_text().splitlines() if 'WARNING' in l or 'ERROR' in l] if log.exists() else []
    return status, warns


def build(out: Path = ROOT/'_docs', force: bool = False, only: list[str] | None = None, quiet: bool = False):
    "Both steps; returns (proc results, sphinx status, sphinx warnings, nbdev.yml changed, timings)."
    os.environ['PATH'] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get('PATH', '')
    os.chdir(ROOT)   # nbdev_proc_nbs runs from the project root
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    t0 = time.time()
    changed = refresh_nbdev_yml()
    nbs = notebooks()
    if only: nbs = [p for p in nbs if any(o in p.name for o in only)]
    (PROC/'_nbdev').mkdir(parents=True, exist_ok=True)
    results = []
    for nb in nbs:
        r = process_notebook(nb, PROC/'_nbdev'/nb.name, force)
        results.append(r)
        say(f"  nbdev processing {nb.relative_to(ROOT) if nb.is_relative_to(ROOT) else nb}: {'ok' if r.ok else 'FAILED'} ({r.seconds:.1f}s)")
    t1 = time.time()
    # Sources are written to a fresh folder, then only changed files are copied over, so Sphinx rebuilds only those.
    new_src = PROC/'_site_src.new'
    if new_src.exists(): shutil.rmtree(new_src)
    new_src.mkdir(parents=True)
    conv = Converter({})
    pages = []
    for nb in nbs:
        stem, title = convert(PROC/'_nbdev'/nb.name, nb.name, conv, new_src)
        pages.append((stem, group_of(nb.name), nb.name))
    if (new_src/'index.ipynb').exists(): write_index_toc(new_src, pages)
    SRC.mkdir(parents=True, exist_ok=True)
    for f in SRC.iterdir():
        if not (new_src/f.name).exists(): f.unlink()
    for f in new_src.iterdir():
        if not (SRC/f.name).exists() or (SRC/f.name).read_bytes() != f.read_bytes(): shutil.copy2(f, SRC/f.name)
    shutil.rmtree(new_src)
    # myst-nb writes next to Sphinx's output folder, so Sphinx writes under _proc/ and the site is copied to `out`.
    status, warns = sphinx_build(SRC, PROC/'_html', PROC/'sphinx-warnings.log')
    if out.exists(): shutil.rmtree(out)
    if (PROC/'_html').exists():
        shutil.copytree(PROC/'_html', out, ignore=shutil.ignore_patterns('.buildinfo', '.doctrees'))
        (out/'.nojekyll').touch()   # GitHub Pages serves _static/ as it is
    t2 = time.time()
    return results, status, warns, changed, {'nbdev': t1 - t0, 'sphinx': t2 - t1}


def report_proc_failures(results) -> list[str]:
    lines = []
    for r in results:
        if r.ok: continue
        name = r.nb.relative_to(ROOT) if r.nb.is_relative_to(ROOT) else r.nb
        lines.append(f"{name}: nbdev's processing failed: {r.error}")
        if r.cell: lines.append(f"    in {r.cell}")
        if r.hint: lines.append(f"    why: {r.hint}")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'_docs'))
    ap.add_argument('--force', action='store_true', help='ignore the cache of nbdev-processed notebooks')
    ap.add_argument('--only', nargs='*', help='process only notebooks whose name contains one of these')
    a = ap.parse_args(argv)
    results, status, warns, changed, t = build(Path(a.out), a.force, a.only)
    if changed: print('nbs/nbdev.yml regenerated from settings.ini (commit it)')
    fails = report_proc_failures(results)
    for l in fails: print(l)
    for w in warns: print('sphinx:', w)
    print(f"site: {Path(a.out).relative_to(ROOT) if Path(a.out).is_relative_to(ROOT) else a.out}/index.html "
          f"(nbdev {t['nbdev']:.0f}s, sphinx {t['sphinx']:.0f}s)")
    return 1 if fails or status else 0


if __name__ == '__main__':
    sys.exit(main())
