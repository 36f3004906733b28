"""Render nbs/index.ipynb to README.md without Quarto (which cannot be installed offline).

What `nbdev_readme` does with Quarto, in plain Python: markdown cells as they are, code cells as ```python blocks
(nbdev directives such as `#| hide` respected and stripped), and their text outputs as plain blocks.
Written atomically.  Usage: python scripts/render_readme.py nbs/index.ipynb README.md
"""
import json, re, sys
from pathlib import Path

def directives(src):
    return {m.group(1).strip() for m in re.finditer(r'^#\|\s*(.+)$', src, re.M)}

def render(nb_path):
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    out = [f'<!-- Generated from {Path(nb_path).as_posix()} by scripts/render_readme.py (make readme). Do not edit. -->\n']
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown':
            out.append(src.strip() + '\n'); continue
        if cell['cell_type'] != 'code': continue
        d = directives(src)
        if any(x.startswith(('hide', 'include: false')) for x in d): continue
        code = re.sub(r'^#\|.*\n?', '', src, flags=re.M).strip()
        if code and not any(x.startswith('echo: false') for x in d): out.append(f'```python\n{code}\n```\n')
        if any(x.startswith('output: false') for x in d): continue
        for o in cell.get('outputs', []):
            if o.get('output_type') == 'stream': text = ''.join(o.get('text', ''))
            elif 'data' in o:
                data = o['data']
                if 'text/markdown' in data: out.append(''.join(data['text/markdown']).strip() + '\n'); continue
                text = ''.join(data.get('text/plain', ''))
            else: continue
            if text.strip(): out.append(f'```\n{text.rstrip()}\n```\n')
    return '\n'.join(out)

if __name__ == '__main__':
    src, dst = sys.argv[1:3] if len(sys.argv) >= 3 else ('nbs/index.ipynb', 'README.md')
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from pmdice_nb.core import atomic_write_text
    atomic_write_text(dst, render(src))
    print(f'wrote {dst}')
