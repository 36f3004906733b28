"""The notebooks' shape (issue 16 items 6 and 7), read from the .ipynb JSON without running anything.

- The export → test rhythm: no run of exported lines (`#| export`, `#| exporti`, `#| exports` cells; markdown cells
  do not break a run) longer than `MAX_RUN` lines without a code cell that is not exported (a test or an example).
- Paper notebooks (`nbs/1[0-5]_paper*.ipynb`) hold no analysis code of their own: every visible code cell
  (not `#| hide`, not exported library code, which the rhythm rule covers) is at most `MAX_PAPER_CELL` lines, and
  none is a copy (the same normalised lines, at least `MIN_COPY` of them) of a visible code cell of another notebook.

A notebook that still breaks a rule is listed with the reason in `ALLOWED_LONG_RUNS` / `ALLOWED_LONG_CELLS`; its test
is an xfail(strict=True), so fixing the notebook makes the test fail until its entry is removed.
The `test_rule_*` tests build broken notebooks in a temp folder and show that each rule catches them.
"""
import json, re
from pathlib import Path
import pytest

NBS = Path(__file__).resolve().parents[1] / 'nbs'
MAX_RUN = 60         # exported lines in a row with no test between them
MAX_PAPER_CELL = 8   # lines of a visible code cell in a paper notebook
MIN_COPY = 4         # normalised lines from which two equal cells count as a copy

ALLOWED_LONG_RUNS = {   # notebook stem: why it still has a run of more than MAX_RUN exported lines
}
ALLOWED_LONG_CELLS = {  # paper notebook stem: why it still has a visible code cell over MAX_PAPER_CELL lines
}

_EXPORT = re.compile(r'#\|\s*export[is]?\b')


def _code_cells(path:Path) -> list[str]:
    "Sources of the code cells of a notebook, in order, with `None` for markdown cells."
    return [''.join(c['source']) if c['cell_type'] == 'code' else None for c in json.loads(Path(path).read_text())['cells']]

def _directives(src:str) -> list[str]: return [l.strip() for l in src.splitlines() if l.strip().startswith('#|')]
def _is_export(src:str) -> bool: return any(_EXPORT.match(d) for d in _directives(src))
def _is_hidden(src:str) -> bool: return any(re.match(r'#\|\s*hide\b', d) for d in _directives(src))
def _is_test(src:str) -> bool:
    "A code cell that is not exported and runs (a test or an example; an `eval: false` cell never runs)."
    return not _is_export(src) and not any(re.match(r'#\|\s*eval:\s*false', d) for d in _directives(src))

def long_runs(path:Path, max_lines:int=MAX_RUN) -> list[tuple]:
    "(first cell, last cell, lines) of every run of exported lines longer than `max_lines` with no test cell between."
    runs, start, n = [], None, 0
    for i, src in enumerate(_code_cells(path) + ['']):   # a final pseudo test cell closes the last run
        if src is None: continue
        if _is_export(src):
            start = i if start is None else start
            n += len(src.splitlines()); last = i
        elif _is_test(src):
            if n > max_lines: runs.append((start, last, n))
            start, n = None, 0
    return runs

def long_cells(path:Path, max_lines:int=MAX_PAPER_CELL) -> list[tuple]:
    "(cell, lines) of every visible code cell (not hidden, not exported) longer than `max_lines`."
    return [(i, len(s.splitlines())) for i, s in enumerate(_code_cells(path))
            if s is not None and not _is_hidden(s) and not _is_export(s) and len(s.splitlines()) > max_lines]

def _normalised(src:str) -> tuple:
    "The cell's code lines, stripped, without blank lines, comment lines or directives."
    return tuple(l.strip() for l in src.splitlines() if l.strip() and not l.strip().startswith('#'))

def copied_cells(path:Path, others:list, min_lines:int=MIN_COPY) -> list[tuple]:
    "(cell, other notebook, its cell) for every visible code cell of `path` that is a copy of one in `others`."
    seen = {}
    for o in others:
        for j, s in enumerate(_code_cells(o)):
            if s is not None and not _is_hidden(s): seen.setdefault(_normalised(s), (Path(o).stem, j))
    return [(i, *seen[_normalised(s)]) for i, s in enumerate(_code_cells(path))
            if s is not None and not _is_hidden(s) and len(_normalised(s)) >= min_lines and _normalised(s) in seen]


NOTEBOOKS = sorted(NBS.glob('*.ipynb'))
PAPER = sorted(NBS.glob('1[0-5]_paper*.ipynb'))

def _params(paths, allowed):
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.xfail(strict=True, reason=allowed[p.stem])] if p.stem in allowed else [])
            for p in paths]


@pytest.mark.parametrize('path', _params(NOTEBOOKS, ALLOWED_LONG_RUNS))
def test_export_test_rhythm(path):
    assert long_runs(path) == [], f"{path.name}: (first cell, last cell, exported lines) with no test between"

@pytest.mark.parametrize('path', _params(PAPER, ALLOWED_LONG_CELLS))
def test_paper_cells_are_short(path):
    assert long_cells(path) == [], f"{path.name}: (cell, lines) of visible code cells over {MAX_PAPER_CELL} lines"

@pytest.mark.parametrize('path', PAPER, ids=[p.stem for p in PAPER])
def test_paper_cells_are_not_copies(path):
    assert copied_cells(path, [p for p in NOTEBOOKS if p != path]) == [], f"{path.name}: (cell, notebook, cell) copies"

def test_allowed_lists_name_notebooks():
    assert set(ALLOWED_LONG_RUNS) <= {p.stem for p in NOTEBOOKS}
    assert set(ALLOWED_LONG_CELLS) <= {p.stem for p in PAPER}


# The rules catch what they are meant to: broken notebooks written to a temp folder.
def _nb(path:Path, *cells) -> Path:
    "A notebook of ('code'|'markdown', source) cells."
    path.write_text(json.dumps({'cells': [{'cell_type': t, 'metadata': {}, 'source': s, **({'outputs': []} if t == 'code' else {})}
                                          for t, s in cells], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}))
    return path

def _export(n:int, flag:str='export') -> str: return f'#| {flag}\n' + '\n'.join(f'x{k} = {k}' for k in range(n - 1))   # n lines

def test_rule_rhythm(tmp_path):
    bad = _nb(tmp_path/'a.ipynb', ('code', _export(40)), ('markdown', '## between'), ('code', _export(30, 'exporti')), ('code', 'test_eq(x1, 1)'))
    assert long_runs(bad) == [(0, 2, 70)]
    assert long_runs(_nb(tmp_path/'b.ipynb', ('code', _export(70)))) == [(0, 0, 70)]          # a run at the end counts
    assert long_runs(_nb(tmp_path/'c.ipynb', ('code', _export(40)), ('code', '#| eval: false\nx'), ('code', _export(30)))) == [(0, 2, 70)]
    good = _nb(tmp_path/'d.ipynb', ('code', _export(40)), ('code', 'test_eq(x1, 1)'), ('code', _export(40)), ('code', '#| hide\nx'))
    assert long_runs(good) == []

def test_rule_paper_cells(tmp_path):
    nb = _nb(tmp_path/'11_paper.x.ipynb', ('code', '\n'.join(['a = 1'] * 9)), ('code', '#| hide\n' + 'a\n' * 12), ('code', _export(20)),
             ('code', '\n'.join(['a = 1'] * 8)))
    assert long_cells(nb) == [(0, 9)]

def test_rule_copies(tmp_path):
    cell = "sweep = load(study)\nif sweep:\n    display(sweep)   # a comment\n\n    print(lines)"
    a = _nb(tmp_path/'11_paper.a.ipynb', ('code', 'x = 1'), ('code', cell), ('code', '#| hide\n' + cell))
    b = _nb(tmp_path/'12_paper.b.ipynb', ('markdown', 'b'), ('code', '#| some_flag\n# another comment\n' + cell.replace('    ', '\t') + '\n\n'))
    assert copied_cells(a, [b]) == [(1, '12_paper.b', 1)]
    short = _nb(tmp_path/'13_paper.c.ipynb', ('code', 'a\nb\nc'))
    assert copied_cells(short, [short, a]) == []                                                # under MIN_COPY lines
    assert copied_cells(b, [_nb(tmp_path/'x.ipynb', ('code', '#| hide\n' + cell))]) == []       # hidden cells are not compared

def test_rules_catch_broken_copies_of_real_notebooks(tmp_path):
    "Real notebooks broken on purpose: 01b_losses without its tests, 11 with three cells merged, 12 holding a cell of 11."
    def broken(src:Path, edit) -> Path:
        nb = json.loads(src.read_text()); edit(nb['cells'])
        (tmp_path/src.name).write_text(json.dumps(nb)); return tmp_path/src.name
    def drop_tests(cells): cells[:] = [c for c in cells if c['cell_type'] != 'code' or _is_export(''.join(c['source']))]
    assert long_runs(NBS/'01b_losses.ipynb') == [] and long_runs(broken(NBS/'01b_losses.ipynb', drop_tests))
    visible = lambda cells: [c for c in cells if c['cell_type'] == 'code' and not _is_hidden(''.join(c['source']))]
    def merge_three(cells):
        a, b, c = visible(cells)[:3]
        a['source'] = '\n'.join(''.join(x['source']) for x in (a, b, c))
    assert long_cells(NBS/'11_paper.table1_kvasir.ipynb') == [] and long_cells(broken(NBS/'11_paper.table1_kvasir.ipynb', merge_three))
    src11 = ''.join(max(visible(json.loads((NBS/'11_paper.table1_kvasir.ipynb').read_text())['cells']),
                        key=lambda c: len(_normalised(''.join(c['source']))))['source'])
    def add_cell(cells): cells.append({'cell_type': 'code', 'metadata': {}, 'outputs': [], 'source': src11})
    copy = broken(NBS/'12_paper.table2_acdc.ipynb', add_cell)
    assert copied_cells(NBS/'12_paper.table2_acdc.ipynb', [NBS/'11_paper.table1_kvasir.ipynb']) == []
    assert copied_cells(copy, [NBS/'11_paper.table1_kvasir.ipynb'])
