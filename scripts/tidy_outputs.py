"""Curate executed notebooks' outputs for the docs: drop warnings (stderr) and finished progress bars, keep figures,
tables and printed results.  Usage: python scripts/tidy_outputs.py nbs/X.ipynb [...]"""
import json, sys
from pathlib import Path
from pmdice_nb.core import atomic_write_text   # a notebook is rewritten whole or not at all

def keep(o):
    if o.get('output_type') == 'stream' and o.get('name') == 'stderr': return False
    html = ''.join(o.get('data', {}).get('text/html', ''))
    if '<progress' in html or 'progress {' in html: return False   # fastprogress bars and their style block
    if 'text/html' in o.get('data', {}) and not html.strip(): return False
    return True

for f in sys.argv[1:]:
    nb = json.loads(Path(f).read_text(encoding='utf-8'))
    for c in nb['cells']:
        if 'outputs' in c: c['outputs'] = [o for o in c['outputs'] if keep(o)]
    atomic_write_text(f, json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
