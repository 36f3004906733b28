"""The docs tooling in seconds, without building the site (`make docs-check` builds and checks the real one):
the Quarto -> MyST conversion, the site checker, the sidebar groups, and the Colab cells (idempotent)."""
import json, re, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'scripts'))
import build_docs as bd, docs_check as dc, colab_cells as cc


@pytest.fixture(scope='module')
def conv():
    return bd.Converter({})


def test_groups_and_page_names():
    assert [bd.group_of(n) for n in ['20_tutorial.own_training.ipynb', '10_paper.ablations.ipynb', '11_paper.tables.ipynb',
                                     '01a_losses_core.ipynb', '01b_losses.ipynb', '02_metrics.ipynb', '03e_data.fakes.ipynb', '04a_augment.ipynb',
                                     '05_experiments.ipynb', '08a_statistics.ipynb', '08b_compare.ipynb', '06_commands.ipynb', '90_cli.ipynb',
                                     '00_core.ipynb']] == \
        ['Tutorials', 'Paper: tables and figures', 'Paper: tables and figures', 'Losses', 'Losses', 'Metrics', 'Data', 'Training',
         'Experiments', 'Experiments', 'Experiments', 'CLI', 'CLI', 'Core utilities']
    assert bd.page_stem(Path('nbs/03e_data.fakes.ipynb')) == 'data.fakes' and bd.page_stem(Path('nbs/index.ipynb')) == 'index'


def test_quarto_attributes_and_site_links(conv):
    md = ('[source](https://github.com/x/y/blob/main/a.py#L3){target="_blank" style="float:right; font-size:smaller"}\n\n'
          '### PMDiceLoss\n\nSee [`class_mean`](https://pmdice-nb.github.io/pmdice_nb/losses.html#class_mean).')
    out = conv.markdown(md)
    assert '{target=' not in out and 'target="_blank"' in out and 'class="reference external srclink"' in out
    assert 'href="losses.html#class_mean"' in out and 'pmdice-nb.github.io' not in out
    assert '::: {.callout' not in conv.markdown('::: {.callout-warning}\nCareful\n:::') and ':::{warning}' in conv.markdown('::: {.callout-warning}\nx\n:::')
    # pandoc's heading id (what nbdev links to) is added where docutils would give another one
    assert '<span id="weighteddiceloss.weight_map"></span>' in conv.markdown('### WeightedDiceLoss.weight_map')
    assert '<span id' not in conv.markdown('### PMDiceLoss')
    assert conv.markdown('```python\nx = {target="_blank"}\n```') == '```python\nx = {target="_blank"}\n```'


def test_convert_front_matter_and_directives(conv, tmp_path):
    nb = {'cells': [{'cell_type': 'raw', 'metadata': {}, 'source': '---\ntitle: Losses\ndescription: The losses\noutput-file: losses.html\n---\n'},
                    {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None,
                     'source': '#| echo: false\n#| output: asis\nshow_doc(f)'}],
          'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    (tmp_path/'in.ipynb').write_text(json.dumps(nb))
    (tmp_path/'out').mkdir()
    stem, title = bd.convert(tmp_path/'in.ipynb', '01b_losses.ipynb', conv, tmp_path/'out')
    assert (stem, title) == ('losses', 'Losses')
    cells = json.loads((tmp_path/'out'/'losses.ipynb').read_text())['cells']
    assert cells[0]['source'].startswith('# Losses') and 'The losses' in cells[0]['source']
    assert not any(c['cell_type'] == 'raw' for c in cells)
    assert cells[1]['source'] == 'show_doc(f)' and cells[1]['metadata'] == {'tags': ['remove-input']}


def _page(body):
    return f'<html><body><article>{body}</article></body></html>'


def test_check_site_finds_each_problem(tmp_path):
    (tmp_path/'index.html').write_text(_page('<p id="a">ok</p><a href="other.html#b">x</a><a href="#a">y</a>'
                                             '<span class="math">$$x$$</span><pre>title: in code is fine</pre>'))
    (tmp_path/'other.html').write_text(_page('<h2 id="b">B</h2>'))
    assert dc.check_site(tmp_path) == []
    (tmp_path/'bad.html').write_text(_page('<p>title: Losses</p><p>$$x^2$$</p><p>[src](u){target="_blank"}</p>'
                                           '<a href="missing.html">m</a><a href="other.html#nope">n</a>'))
    problems = '\n'.join(dc.check_site(tmp_path))
    for what in ['raw front matter', 'raw $$', 'Quarto attribute', "no file missing.html", "no id 'nope'"]:
        assert what in problems, (what, problems)


def _nb(*cells):
    return {'cells': [{'cell_type': k, 'id': f'c{i}', 'metadata': {}, 'source': s,
                       **({'outputs': [], 'execution_count': None} if k == 'code' else {})} for i, (k, s) in enumerate(cells)],
            'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}


def test_colab_cells_idempotent(tmp_path):
    p = tmp_path/'01_x.ipynb'
    p.write_text(json.dumps(_nb(('markdown', '# X\n\n> summary'), ('code', '#| default_exp x'),
                                ('code', '#| hide\nfrom fastcore.test import *\nfrom nbdev.showdoc import *'),
                                ('code', '#| hide\nimport nbdev; nbdev.nbdev_export()'))))
    assert cc.process(p) is True
    once = p.read_text()
    assert cc.process(p) is False and p.read_text() == once
    cells = [''.join(c['source']) for c in json.loads(once)['cells']]
    assert cells[1].startswith('[![Open In Colab]') and 'blob/main/nbs/01_x.ipynb' in cells[1]
    assert '#| hide' in cells[2] and '#| eval: false' in cells[2] and "'google.colab' in sys.modules" in cells[2]
    assert cells[3] == '#| default_exp x'
    assert 'try: from nbdev.showdoc import *\nexcept ImportError:' in cells[4]
    assert "settings.ini" in cells[5] and 'nbdev_export()' in cells[5]


def test_colab_cells_run_without_nbdev(tmp_path):
    "The guarded cells run in a Python where nbdev cannot be imported and no settings.ini is found."
    nb = cc.apply(_nb(('markdown', '# X'), ('code', '#| hide\nfrom nbdev.showdoc import *'),
                      ('code', '#| hide\nimport nbdev; nbdev.nbdev_export()')), tmp_path/'x.ipynb')
    src = '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code')
    import subprocess
    code = ("import sys; sys.modules['nbdev'] = None; sys.modules['nbdev.showdoc'] = None\n" + src + "\nshow_doc(len)\nprint('ran')")
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith('ran'), r.stderr


def test_processing_failure_names_cell_error_and_reason(tmp_path):
    "A cell mixing an import with code that needs a later name: nbdev's processing fails; the report says where and why."
    nb = _nb(('markdown', '# Broken\n\n> a notebook nbdev cannot process'),
             ('code', '#| export\ndef f(x): return x'),
             ('code', 'import math\ny = later + 1'),
             ('code', 'later = 1'))
    src = tmp_path/'99_broken.ipynb'
    src.write_text(json.dumps(nb))
    r = bd.process_notebook(src, tmp_path/'out.ipynb', force=True)
    assert not r.ok and 'NameError' in r.error and "'later'" in r.error
    assert r.cell.startswith('cell 2 (counting from 0)') and 'import math' in r.cell and 'imports' in r.hint
    assert (tmp_path/'out.ipynb').exists()   # the page is still built, without show_doc execution
    lines = bd.report_proc_failures([r])
    assert "nbdev's processing failed: NameError" in lines[0]


def test_readme_in_sync():
    assert dc.readme_in_sync() == [], 'README.md differs from nbs/index.ipynb: run make readme'


# --- what a newcomer reads first: the README's Python version, code blocks and install hints; the package metadata ---

def _readme_and_index():
    return {'README.md': (ROOT/'README.md').read_text(encoding='utf-8'),
            'nbs/index.ipynb': ''.join(''.join(c['source']) for c in json.loads((ROOT/'nbs'/'index.ipynb').read_text(encoding='utf-8'))['cells'])}


def _setup_metadata(*options) -> tuple[str, str]:
    "stdout and stderr of `python setup.py <options>` (the metadata setuptools builds from settings.ini)."
    import subprocess
    r = subprocess.run([sys.executable, 'setup.py', *options], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


def test_python_3_10_everywhere():
    "fastai >= 2.8.7 and current torch need Python 3.10 (on 3.9 pip finds no fastai): every place says 3.10+."
    import configparser
    ini = configparser.ConfigParser(delimiters=['=']); ini.read(ROOT/'settings.ini')
    assert ini['DEFAULT']['min_python'] == '3.10'
    assert re.search(r'^requires-python\s*=\s*">=3\.10"\s*$', (ROOT/'pyproject.toml').read_text(), re.M)
    for name, text in _readme_and_index().items():
        assert 'Python 3.9' not in text and text.count('Python 3.10+') >= 3, name
    out, _ = _setup_metadata('--classifiers')
    versions = re.findall(r'^Programming Language :: Python :: (3\.\d+)$', out, re.M)
    assert versions and versions[0] == '3.10' and '3.9' not in versions, out


def test_classifiers_agree_with_settings_and_build_without_warnings():
    "Development Status is settings.ini's `status` (3 = Alpha); the licence is an SPDX expression, not a deprecated classifier."
    import configparser
    ini = configparser.ConfigParser(delimiters=['=']); ini.read(ROOT/'settings.ini')
    out, err = _setup_metadata('--classifiers')
    assert f"Development Status :: {ini['DEFAULT']['status']} - " in out, out
    assert 'License ::' not in out, out
    assert 'warn' not in err.lower(), err


def test_readme_code_blocks_run(tmp_path):
    "Every ```python block of the README, run in order in a fresh interpreter, as a reader pastes them."
    import subprocess
    readme = (ROOT/'README.md').read_text(encoding='utf-8')
    blocks = re.findall(r'^```python\n(.*?)^```', readme, re.S | re.M)
    assert len(blocks) >= 2
    script = tmp_path/'readme.py'
    script.write_text('\n'.join(f'# block {i}\n{b}' for i, b in enumerate(blocks)), encoding='utf-8')
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-2000:]


def test_readme_says_how_to_get_cpu_torch():
    "pip's default torch pulls about 6 GB of CUDA libraries: the README gives the CPU-only index before the package."
    for name, text in _readme_and_index().items():
        i = text.find('pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu')
        assert i >= 0, name
        assert i < text.find('pip install git+https://github.com/pmdice-nb/pmdice_nb.git', i), name


def test_make_lab_as_root_and_extra_arguments():
    "Jupyter refuses to run as root (Docker, Codespaces, many cloud VMs) without --allow-root: `make lab` adds it then, and passes LAB_ARGS."
    import os, subprocess
    def lab_command(*args):
        r = subprocess.run(['make', '-n', 'lab', *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return next(l for l in r.stdout.splitlines() if 'jupyter lab' in l)
    line = lab_command()
    assert line.split()[-1] == ('--allow-root' if os.geteuid() == 0 else 'nbs'), line
    assert lab_command('LAB_ARGS=--port 8890 --no-browser').endswith('--port 8890 --no-browser')


def test_check_site_finds_links_to_missing_repository_files(tmp_path):
    "The View/Edit icons once opened nbs/losses.ipynb (404) instead of nbs/01b_losses.ipynb: docs-check follows such links."
    repo = 'https://github.com/pmdice-nb/pmdice_nb'
    (tmp_path/'index.html').write_text(_page(f'<a href="{repo}/blob/main/nbs/01b_losses.ipynb">v</a>'
                                             f'<a href="{repo}/edit/main/nbs/01b_losses.ipynb">e</a>'
                                             f'<a href="{repo}/tree/main/data">d</a><a href="{repo}/issues">i</a>'))
    assert dc.check_site(tmp_path, repo_url=repo, branch='main', repo_root=ROOT) == []
    (tmp_path/'losses.html').write_text(_page(f'<a href="{repo}/blob/main/nbs/losses.ipynb?plain=true">v</a>'
                                              f'<a href="{repo}/edit/main/nbs/losses.ipynb">e</a>'))
    problems = dc.check_site(tmp_path, repo_url=repo, branch='main', repo_root=ROOT)
    assert len(problems) == 2 and all('nbs/losses.ipynb' in p and 'not in the repository' in p for p in problems), problems


def test_view_and_edit_icons_open_the_notebook():
    "docs/conf.py points furo's View/Edit icons of every page at the notebook it is built from."
    import importlib.util
    spec = importlib.util.spec_from_file_location('docs_conf', ROOT/'docs'/'conf.py')
    conf = importlib.util.module_from_spec(spec); spec.loader.exec_module(conf)
    for nb in bd.notebooks():
        context = {}
        conf.source_links(None, bd.page_stem(nb), 'page.html', context, None)
        rel = nb.relative_to(ROOT).as_posix()
        assert context == {'theme_source_view_link': f'https://github.com/pmdice-nb/pmdice_nb/blob/main/{rel}',
                           'theme_source_edit_link': f'https://github.com/pmdice-nb/pmdice_nb/edit/main/{rel}'}, context
    assert bd.page_stem(ROOT/'nbs'/'01b_losses.ipynb') == 'losses' and (ROOT/'nbs'/'01b_losses.ipynb').exists()
    assert bd.page_stem(ROOT/'nbs'/'01a_losses_core.ipynb') == 'losses_core'
    assert bd.page_stem(ROOT/'nbs'/'08b_compare.ipynb') == 'compare' and bd.page_stem(ROOT/'nbs'/'08a_statistics.ipynb') == 'statistics'


def test_site_code_cells_wrap_long_lines():
    "Long code comments on the docs site wrap instead of hiding behind a horizontal scrollbar (issue 17: 23)."
    css = (Path(__file__).resolve().parents[1] / 'nbs' / 'styles.css').read_text()
    assert re.search(r'\.cell_input div\.highlight pre\s*\{[^}]*white-space:\s*pre-wrap', css), "code cells must wrap"
