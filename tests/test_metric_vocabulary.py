"The metric vocabulary of 02_metrics and each dataset's NSD tolerance (issue 16 item 5): one table, read by the code."
import json
import pytest
from pmdice_nb import metrics
from pmdice_nb.metrics import METRIC_TABLE, seg_metrics, summarize_cases, case_metrics
from pmdice_nb.data import fakes
from pmdice_nb.data.kvasir import KvasirSEG
from pmdice_nb.data.acdc import ACDC
from pmdice_nb.data.msseg import MSLesions
from pmdice_nb.data.synthetic import SyntheticPolyps
import numpy as np


def test_metric_table():
    assert [(m.name, m.display, m.per_case) for m in METRIC_TABLE.values()] == [
        ('mDice', 'mDice', 'dice'), ('mIoU', 'mIoU', 'iou'), ('mNSD', 'mNSD', 'nsd'),
        ('mPrec', 'mPrec.', 'precision'), ('mRec', 'mRec.', 'recall')]


def test_consumers_in_02_use_it():
    assert [m.name for m in seg_metrics(3)] == list(METRIC_TABLE)
    rec = case_metrics(np.eye(4, dtype=int), np.eye(4, dtype=int), 2)
    assert all(m.per_case in rec for m in METRIC_TABLE.values())
    assert list(summarize_cases([rec]))[:5] == list(METRIC_TABLE)
    assert not hasattr(metrics, 'NSD_TOLERANCE') and not hasattr(metrics, '_SUMMARY_KEYS')   # no second copy


def test_no_module_restates_the_names():
    "The five names appear once, in `METRIC_TABLE`; every other module reads them from it."
    from pathlib import Path
    restated = [f.name for f in Path(metrics.__file__).parent.rglob('*.py') if "'mDice', 'mIoU', 'mNSD'" in f.read_text()]
    assert restated == [], restated


def _kv(d): return KvasirSEG(fakes.make_fake_kvasir(d/'k'), cache_dir=None)
def _acdc(d): fakes.make_fake_acdc(d/'a', patients=(1, 2, 19)); return ACDC(d/'a', cache_dir=None)
def _ssl(d): fakes.make_fake_acdc_ssl4mis(d/'s', train=(3, 4), valid=(2,), test=(1,)); return ACDC(d/'s', cache_dir=None)
def _ms(d): return MSLesions(fakes.make_fake_msseg2016(d/'m', patients=4), cache_dir=None)
def _syn(d): return SyntheticPolyps(4)

@pytest.mark.parametrize('make, tolerance, units', [(_kv, 2.0, 'px'), (_acdc, 2.0, 'mm'), (_ssl, 2.0, 'px'),
                                                   (_ms, 1.0, 'mm'), (_syn, 1.0, 'px')])
def test_loaders_tolerances_unchanged(tmp_path, make, tolerance, units):
    "What `describe()` records (the tolerance and its unit per dataset) is what it was before issue 16."
    d = make(tmp_path).describe()
    assert (d['nsd_tolerance'], d['nsd_units']) == (tolerance, units)
    json.dumps(d)
