# Sphinx configuration of the documentation site. The sources are generated: scripts/build_docs.py (make docs)
# writes nbdev-processed notebooks to _proc/_site_src and renders them with this file (see docs/README.md).
import configparser, pathlib, sys
_cfg = configparser.ConfigParser(delimiters=['=']); _cfg.read(pathlib.Path(__file__).parents[1]/'settings.ini')
_c = _cfg['DEFAULT']

project = _c['title']
author = _c['author']
copyright = _c['copyright']
release = _c['version']
extensions = ['myst_nb', 'sphinx-mathjax-offline']     # MathJax 3 from the package, copied into _static/mathjax
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'attrs_block', 'attrs_inline', 'html_image']
myst_heading_anchors = 3
nb_execution_mode = 'off'                    # outputs come from the notebooks and nbdev's show_doc execution
nb_render_markdown_format = 'myst'           # show_doc output is markdown
nb_merge_streams = True
html_theme = 'furo'
html_title = _c['title']
html_static_path = [str(pathlib.Path(__file__).parents[1]/'nbs'/'styles.css')]
html_css_files = ['styles.css']
html_show_sourcelink = False
html_copy_source = False
html_baseurl = _c['doc_host'] + _c['doc_baseurl'] + '/'
html_theme_options = {'source_repository': _c['git_url'], 'source_branch': _c['branch'], 'source_directory': 'nbs/',
                      'navigation_with_keys': True}
exclude_patterns = ['_build']
suppress_warnings = ['mystnb.unknown_mime_type', 'myst.header']
pygments_style = 'friendly'


# furo's "View this page" / "Edit this page" icons would open `nbs/<page>.ipynb` (nbs/losses.ipynb), a file that does not
# exist: a page is named after its notebook without the number (build_docs.page_stem). They open the notebook itself.
sys.path.insert(0, str(pathlib.Path(__file__).parents[1]/'scripts'))
import build_docs as _bd
_NOTEBOOKS = {_bd.page_stem(nb): nb.relative_to(_bd.ROOT).as_posix() for nb in _bd.notebooks()}

def source_links(app, pagename, templatename, context, doctree):
    "Point the page's View and Edit icons at its notebook on GitHub (e.g. nbs/01b_losses.ipynb for losses.html)."
    nb = _NOTEBOOKS.get(pagename)
    if nb is None: return
    context['theme_source_view_link'] = f"{_c['git_url'].rstrip('/')}/blob/{_c['branch']}/{nb}"
    context['theme_source_edit_link'] = f"{_c['git_url'].rstrip('/')}/edit/{_c['branch']}/{nb}"

def setup(app):
    app.connect('html-page-context', source_links)
