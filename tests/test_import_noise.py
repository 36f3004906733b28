"Importing the library prints no third-party deprecation noise (torch.jit, pandas option), and warnings still work."
import subprocess, sys
import pytest

MODULES = ['metrics', 'augment', 'models', 'learner', 'experiments', 'studies']  # each imports fastai; the rest import one of these

@pytest.mark.parametrize('module', MODULES)
def test_import_is_quiet(module):
    out = subprocess.run([sys.executable, '-c', f'import pmdice_nb.{module}'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert 'Warning' not in out.stderr, out.stderr

def test_other_warnings_still_show():
    code = "import warnings, pmdice_nb.learner; warnings.warn('kept', FutureWarning); warnings.warn('also kept', UserWarning)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert 'FutureWarning: kept' in out.stderr and 'UserWarning: also kept' in out.stderr, out.stderr
