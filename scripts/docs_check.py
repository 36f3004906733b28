"""Check the documentation site: `make docs-check` (part of `make test`).

1. every notebook passes nbdev's processing step (the one `nbdev_proc_nbs` / `nbdev_docs` runs); a failure names the
   notebook, the cell, the error and the likely reason;
2. the site builds (scripts/build_docs.py) without Sphinx warnings, and nbs/nbdev.yml is in sync with settings.ini;
3. no page shows raw front matter (`title: ...`), raw `$$`, or Quarto attribute text (`{target="_blank"}`, `{.callout-note}`);
4. every internal link (href/src to a file of the site, with its #anchor) resolves;
5. every link to a file of this repository on GitHub (the "View/Edit this page" icons, links to data/README.md) names
   a file that exists in the working tree.

Usage: python scripts/docs_check.py [--out DIR] [--no-build]   (exit status 1 on any problem)
"""
from __future__ import annotations
import argparse, re, sys, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_docs as bd

SKIP_TEXT_TAGS = {'script', 'style', 'pre', 'code', 'textarea', 'math'}
RAW_FRONT_MATTER = re.compile(r'(^|\n)\s*(title|output-file|description|skip_exec|skip_showdoc)\s*:\s', re.I)
RAW_QUARTO_ATTR = re.compile(r'\{\s*(target\s*=|style\s*=|\.callout|\.column|\.unnumbered|#(fig|tbl|sec|eq)-)[^}]*\}')


class Page(HTMLParser):
    "Visible text (outside code, scripts and math), ids, and links of one HTML page."
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.text, self.stack = set(), [], [], []
        self.link_text, self._a = {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        for k in ('href', 'src'):
            if a.get(k) and tag in ('a', 'img', 'link', 'script'): self.links.append((tag, a[k]))
        if tag == 'a' and a.get('href'):
            self._a = None if self.link_text.get(a['href']) else a['href']
            self.link_text.setdefault(a['href'], '')
        if tag in ('br', 'img', 'meta', 'link', 'input', 'hr', 'source', 'col', 'wbr'): return
        skip = tag in SKIP_TEXT_TAGS or 'math' in (a.get('class') or '').split()
        self.stack.append((tag, skip))

    def handle_endtag(self, tag):
        if tag == 'a': self._a = None
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag: del self.stack[i:]; break

    def handle_data(self, data):
        if self._a is not None and len(self.link_text[self._a]) < 80: self.link_text[self._a] += data
        if not any(s for _, s in self.stack): self.text.append(data)


def parse(path: Path) -> Page:
    p = Page(); p.feed(path.read_text(encoding='utf-8', errors='replace')); return p


def repo_file(url: str, repo_url: str, branch: str) -> str | None:
    "The repository path a GitHub link to `repo_url` on `branch` names (blob/edit/tree/raw), else None."
    m = re.match(re.escape(repo_url.rstrip('/')) + r'/(?:blob|edit|tree|raw)/' + re.escape(branch) + r'/([^?#]*)', url)
    return unquote(m.group(1)).rstrip('/') if m else None


def check_site(site: Path, doc_url: str = '', failed_pages: set = frozenset(), repo_url: str = '', branch: str = 'main',
               repo_root: Path = bd.ROOT) -> list[str]:
    "Problems in the built HTML under `site`: raw front matter, raw $$, Quarto attributes, broken internal links, links to missing repository files."
    problems, pages, seen, missing_in_failed = [], {}, set(), {}
    for f in sorted(site.rglob('*.html')): pages[f.resolve()] = parse(f)
    for f, pg in pages.items():
        rel = f.relative_to(site.resolve())
        if rel.parts[0].startswith('_') or rel.name in ('genindex.html', 'search.html'): continue
        text = ''.join(pg.text)
        if m := RAW_FRONT_MATTER.search(text):
            problems.append(f'{rel}: raw front matter shows: {text[m.start():m.start() + 60].strip()!r}')
        if '$$' in text:
            i = text.index('$$'); problems.append(f'{rel}: raw $$ shows (math not rendered): {text[max(0, i - 30):i + 40]!r}')
        if m := RAW_QUARTO_ATTR.search(text):
            problems.append(f'{rel}: Quarto attribute text shows: {m.group(0)!r}')
        for tag, url in pg.links:
            if (rel, url) in seen: continue
            seen.add((rel, url))
            if doc_url and url.startswith(doc_url) and tag == 'a':
                problems.append(f'{rel}: link to the deployed site instead of a relative one: {url}'); continue
            u = urlsplit(url)
            path = repo_file(url, repo_url, branch) if repo_url else None
            if path is not None:
                if not (repo_root/path).exists():
                    problems.append(f'{rel}: link {url!r} ({tag}) names {path or "the repository root"}, which is not in the repository')
                continue
            if u.scheme or url.startswith(('//', 'mailto:', 'javascript:', 'data:')): continue
            target = (f.parent/unquote(u.path)).resolve() if u.path else f
            if u.path and target.is_dir(): target = target/'index.html'
            if not target.exists():
                problems.append(f'{rel}: broken link {url!r} ({tag}): no file {target.relative_to(site.resolve()) if target.is_relative_to(site.resolve()) else target}')
                continue
            if u.fragment and target.suffix == '.html':
                tp = pages.get(target) or parse(target)
                if unquote(u.fragment) not in tp.ids:
                    if target.stem in failed_pages:
                        missing_in_failed.setdefault(target.name, set()).add(u.fragment); continue
                    name = pg.link_text.get(url, '').strip().rstrip('()')
                    nb = next((f'nbs/{n.name}' for n in bd.notebooks() if bd.page_stem(n) == target.stem), target.name)
                    problems.append(f'{rel}: broken link {url!r}: no id {u.fragment!r} in {target.name}'
                                    + (f': nbdev links `{name}` there, but {nb} has no show_doc({name})' if name else ''))
    for page, frags in sorted(missing_in_failed.items()):
        problems.append(f'{len(frags)} link target(s) missing in {page} because its notebook failed nbdev processing '
                        f'(e.g. #{sorted(frags)[0]})')
    return problems


def readme_in_sync() -> list[str]:
    "README.md is generated from nbs/index.ipynb (make readme): it must match what the notebook renders to."
    import render_readme
    readme = bd.ROOT/'README.md'
    if not readme.exists(): return ['README.md is missing: run make readme']
    if render_readme.render('nbs/index.ipynb') != readme.read_text(encoding='utf-8'):
        return ['README.md is out of sync with nbs/index.ipynb: run make readme (or scripts/render_readme.py) and commit it']
    return []


def _sphinx_source_to_nb(line: str, nbs: list[Path]) -> str:
    "Name the notebook a Sphinx warning about _proc/_site_src/<page>.ipynb comes from."
    m = re.search(r'_site_src/([^:]+)\.ipynb', line)
    if not m: return line
    stem = m.group(1)
    for nb in nbs:
        if bd.page_stem(nb) == stem: return line.replace(m.group(0), f'nbs/{nb.name} (page {stem}.html)')
    return line


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(bd.PROC/'_check_site'), help='where to build the site')
    ap.add_argument('--no-build', action='store_true', help='only check an already built site in --out')
    a = ap.parse_args(argv)
    out, t0, problems, failed = Path(a.out), time.time(), [], set()
    if not a.no_build:
        results, status, warns, changed, t = bd.build(out, quiet=True)
        print(f'nbdev processing: {sum(r.ok for r in results)}/{len(results)} notebooks ok ({t["nbdev"]:.0f}s); '
              f'sphinx {t["sphinx"]:.0f}s')
        problems += bd.report_proc_failures(results)
        failed = {bd.page_stem(r.nb) for r in results if not r.ok}
        for r in results:
            for w in r.warnings[:1]:
                print(f'  note: {r.nb.name}: nbdev warns "Found cells containing imports and other code" '
                      f'({len(r.warnings)} cell(s)); such cells run out of order in the docs processing')
        if status: problems.append(f'sphinx failed (status {status}); see _proc/sphinx-warnings.log')
        problems += ['sphinx: ' + _sphinx_source_to_nb(w, bd.notebooks()) for w in warns]
        if changed: problems.append('nbs/nbdev.yml was stale (now regenerated from settings.ini): commit it')
        problems += readme_in_sync()
    cfg = bd._cfg()
    doc_url = (cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/')).rstrip('/') + '/'
    if not (out/'index.html').exists(): problems.append(f'no site at {out}/index.html')
    else: problems += check_site(out, doc_url, failed, cfg.git_url, cfg.branch)
    n_pages = len(list(out.glob('*.html')))
    for p in problems: print('FAIL', p)
    print(f'docs-check: {n_pages} pages, {len(problems)} problem(s), {time.time() - t0:.0f}s')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
