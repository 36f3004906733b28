"Integration and bad-input tests of pmdice_nb.data: every loader on fakes of its real layout and on the real samples."
import json, os, pickle
from pathlib import Path

import numpy as np
import pytest

from pmdice_nb.data.core import Case, SegDataset, VolumeSlices, class_frequencies, read_cached_case
from pmdice_nb.data.kvasir import KvasirSEG
from pmdice_nb.data.acdc import ACDC, ACDC_TEST, ACDC_VALID
from pmdice_nb.data.msseg import MSLesions
from pmdice_nb.data.synthetic import SyntheticPolyps, SyntheticCardiac, SyntheticMS, PolypConfig
from pmdice_nb.data.fakes import (make_fake_kvasir, make_fake_acdc, make_fake_acdc_ssl4mis, make_fake_msseg2016,
                                  make_fake_msseg2, make_fake_open_ms, write_nifti)

SAMPLES = Path(__file__).resolve().parents[1]/'data'/'samples'
SHARED = Path(__file__).resolve().parents[2]/'shared'/'data'    # the real datasets beside the repository, when present
needs_shared = lambda name: pytest.mark.skipif(not (SHARED/name).is_dir(), reason=f'{SHARED/name} not present')


def check_protocol(ds: SegDataset):
    "Every case of `ds` satisfies the Case protocol and the dataset's attributes."
    assert len(ds) == len(ds.ids) > 0
    for i in range(len(ds)):
        c = ds[i]
        assert isinstance(c, Case) and c.id == ds.ids[i] and c.ndim == ds.ndim
        assert c.n_channels == ds.n_channels
        assert c.mask.dtype == np.uint8 and c.mask.max() < ds.n_classes
        x = c.channels_first()
        assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
        assert len(c.spacing) == ds.ndim and all(s > 0 for s in c.spacing)
        json.dumps(c.meta)                                        # meta is cacheable
    s = ds.split(0)
    assert set(s) == {'train', 'valid', 'test'}
    assert not set(s['train']) & set(s['test']) and not set(s['train']) & set(s['valid'])


# ---------------------------------------------------------------- Kvasir-SEG
def test_kvasir_fake(tmp_path):
    make_fake_kvasir(tmp_path/'Kvasir-SEG', n=6, size=(40, 52))
    ds = KvasirSEG(tmp_path, cache_dir=tmp_path/'cache')
    check_protocol(ds)
    c = ds[0]
    assert c.image.shape == (40, 52, 3) and c.image.dtype == np.uint8 and set(np.unique(c.mask)) <= {0, 1}
    assert c.mask.sum() > 0 and c.meta['bbox']
    s = ds.split(0)
    assert (len(s['train']), len(s['valid']), len(s['test'])) == (4, 1, 1)
    assert ds.split(0) == KvasirSEG(tmp_path, cache_dir=None).split(0)


def test_kvasir_real_sample(tmp_path):
    ds = KvasirSEG(SAMPLES/'kvasir-seg-sample', cache_dir=tmp_path)
    check_protocol(ds)
    shapes = [ds[i].image.shape for i in range(len(ds))]
    assert shapes[0] == (529, 622, 3) and shapes[1] == (1070, 1348, 3)
    for i in range(len(ds)):                                      # JPEG masks: thresholding leaves a clean polyp
        m = ds[i].mask
        assert 0.02 < m.mean() < 0.6


def test_kvasir_cache_hit(tmp_path, monkeypatch):
    root = make_fake_kvasir(tmp_path/'k', n=2)
    cache = tmp_path/'cache'
    first = KvasirSEG(root, cache_dir=cache)[1]
    entries = sorted(p.name for p in (cache/'KvasirSEG').iterdir())
    assert len(entries) == 3 and entries[0].startswith('fake001-') and not any(e.endswith('.tmp') for e in entries)
    import pmdice_nb.data.kvasir as kv
    def no_decoding(*a, **k): raise AssertionError('decoded although cached')
    monkeypatch.setattr(kv, 'read_image', no_decoding)
    second = KvasirSEG(root, cache_dir=cache)[1]                # a new run: served from the cache
    assert np.array_equal(first.image, second.image) and np.array_equal(first.mask, second.mask)
    assert first.spacing == second.spacing and first.meta == second.meta
    # a changed file or setting is a different key: decoded again
    with pytest.raises(AssertionError, match='decoded'): KvasirSEG(root, cache_dir=cache, mask_threshold=100)[1]
    os.utime(root/'images'/'fake001.jpg', ns=(0, 0))
    with pytest.raises(AssertionError, match='decoded'): KvasirSEG(root, cache_dir=cache)[1]


def test_cache_disabled_and_corrupt_entry(tmp_path):
    root = make_fake_kvasir(tmp_path/'k', n=1)
    ds = KvasirSEG(root, cache_dir=None)
    ds[0]
    assert not (tmp_path/'data').exists() and ds.cache_path(0) is None
    ds = KvasirSEG(root, cache_dir=tmp_path/'cache')
    a = ds[0]
    stem = ds.cache_path(0)
    Path(str(stem) + '.image.npy').write_bytes(b'garbage')         # a corrupt entry is decoded again and rewritten
    assert read_cached_case(stem) is None
    assert np.array_equal(ds[0].image, a.image)
    assert read_cached_case(stem) is not None


def test_kvasir_official_lists(tmp_path):
    root = make_fake_kvasir(tmp_path, n=8, split_lists=True)
    ds = KvasirSEG(root, cache_dir=None)
    s = ds.split(3)
    assert [ds.ids[i] for i in s['test']] == ['fake006', 'fake007']
    assert sorted(s['train'] + s['valid']) == list(range(6)) and len(s['valid']) == 1
    (root/'val.txt').write_text('fake007\nnot_an_image\n')
    with pytest.raises(ValueError, match=r'val.txt: 1 listed ids have no image'): KvasirSEG(root)
    os.remove(root/'val.txt')
    with pytest.raises(FileNotFoundError, match='val.txt'): KvasirSEG(root)


def test_kvasir_named_splits(tmp_path):
    root = make_fake_kvasir(tmp_path/'k', n=8, split_lists=True, pranet_lists=True)
    assert KvasirSEG(root, cache_dir=None).split_name == 'pranet'              # default: PraNet lists when present
    ds = KvasirSEG(root, cache_dir=None, split='pranet')
    s = ds.split(0)
    assert [ds.ids[i] for i in s['test']] == ['fake006', 'fake007'] and len(s['valid']) == 1 and len(s['train']) == 5
    assert s == ds.split(0) and not set(s['valid']) & set(s['test'])
    d = ds.describe()
    assert d['split'] == 'pranet' and d['n_listed'] == {'train': 6, 'test': 2} and d['nsd_units'] == 'px'
    assert d['split_files'][1].endswith('splits/pranet_test.txt')
    json.dumps(d)                                                              # storable in a record
    assert KvasirSEG(root, cache_dir=None, split='official').split_name == 'official'
    r = KvasirSEG(root, cache_dir=None, split='random')
    assert r.split_name == 'random' and r.split_lists is None and r.split(0) == r.split(0) and r.split(0) != r.split(1)
    # a split given as two id lists, or two list files
    c = KvasirSEG(root, cache_dir=None, split=(['fake000', 'fake001', 'fake002', 'fake003'], ['fake007']))
    assert c.split_name == 'custom' and [c.ids[i] for i in c.split(0)['test']] == ['fake007']
    (tmp_path/'a.txt').write_text('fake000.jpg\nfake001\n'); (tmp_path/'b.txt').write_text('fake005\n')
    f = KvasirSEG(root, cache_dir=None, split=(tmp_path/'a.txt', str(tmp_path/'b.txt')), val_fraction=0)
    assert f.split(0) == {'train': [0, 1], 'valid': [5], 'test': [5]} and f.describe()['split_files'][0].endswith('a.txt')
    # a name reads splits/<name>_train.txt and _test.txt
    (root/'splits'/'mine_train.txt').write_text('fake000\nfake001\n'); (root/'splits'/'mine_test.txt').write_text('fake002\n')
    assert KvasirSEG(root, cache_dir=None, split='mine').split(0, )['test'] == [2]
    # no lists: the random split is the default
    plain = make_fake_kvasir(tmp_path/'plain', n=5)
    assert KvasirSEG(plain, cache_dir=None).split_name == 'random'


def test_kvasir_split_errors(tmp_path):
    root = make_fake_kvasir(tmp_path/'k', n=6, pranet_lists=True)
    with pytest.raises(FileNotFoundError, match=r'galdran_train.txt: split list of split=.galdran. not found'):
        KvasirSEG(root, split='galdran')
    with pytest.raises(ValueError, match='in both train and test'): KvasirSEG(root, split=(['fake000'], ['fake000', 'fake001']))
    with pytest.raises(ValueError, match=r"the train ids of split: 1 listed ids have no image, e.g. \['nope'\]"):
        KvasirSEG(root, split=(['nope'], ['fake001']))
    with pytest.raises(ValueError, match='listed more than once'): KvasirSEG(root, split=(['fake000', 'fake000'], ['fake001']))
    with pytest.raises(ValueError, match='split must be'): KvasirSEG(root, split=3)
    with pytest.raises(FileNotFoundError, match='missing.txt: split list not found'):
        KvasirSEG(root, split=(tmp_path/'missing.txt', tmp_path/'missing2.txt'))
    os.remove(root/'splits'/'pranet_test.txt')                                 # half a named split is an error, not random
    with pytest.raises(FileNotFoundError, match='pranet_test.txt'): KvasirSEG(root)


@needs_shared('kvasir-seg')
def test_kvasir_real_pranet_split():
    ds = KvasirSEG(SHARED/'kvasir-seg', cache_dir=None, split='pranet')
    s = ds.split(0)
    assert (len(s['train']), len(s['valid']), len(s['test'])) == (810, 90, 100)
    listed = (SHARED/'kvasir-seg'/'splits'/'pranet_test.txt').read_text().split()
    assert sorted(ds.ids[i] for i in s['test']) == sorted(listed)
    c = ds[s['test'][0]]
    assert c.image.ndim == 3 and set(np.unique(c.mask)) == {0, 1}


def test_kvasir_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'): KvasirSEG(tmp_path/'nothing')
    (tmp_path/'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no images/ folder'): KvasirSEG(tmp_path/'empty')
    (tmp_path/'empty'/'images').mkdir(); (tmp_path/'empty'/'masks').mkdir()
    with pytest.raises(FileNotFoundError, match='no image files'): KvasirSEG(tmp_path/'empty')

    root = make_fake_kvasir(tmp_path/'k', n=3)
    from PIL import Image
    Image.new('RGB', (30, 20)).save(root/'masks'/'fake000.jpg')   # size mismatch
    with pytest.raises(ValueError, match=r'fake000.jpg: mask size \(30, 20\) differs from image .*fake000.jpg size \(64, 48\)'):
        KvasirSEG(root, cache_dir=None)[0]
    (root/'images'/'fake001.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    with pytest.raises(ValueError, match='fake001.jpg: cannot read image'): KvasirSEG(root, cache_dir=None)[1]
    os.rename(root/'images'/'fake002.jpg', root/'images'/'other.jpg')
    with pytest.raises(FileNotFoundError, match='other.jpg: no mask'): KvasirSEG(root)
    os.remove(root/'images'/'other.jpg')
    with pytest.raises(ValueError, match='fake002.jpg: mask without an image'): KvasirSEG(root)
    (root/'kavsir_bboxes.json').write_text('{broken')
    os.remove(root/'masks'/'fake002.jpg')
    with pytest.raises(ValueError, match='kavsir_bboxes.json: not valid JSON'): KvasirSEG(root)


# ---------------------------------------------------------------- ACDC
def test_acdc_fake(tmp_path):
    make_fake_acdc(tmp_path/'ACDC'/'database', patients=(1, 2, 19, 30), shape=(3, 24, 20), spacing=(8., 1.4, 1.6))
    ds = ACDC(tmp_path/'ACDC', cache_dir=tmp_path/'cache')
    check_protocol(ds)
    c = ds[0]
    assert c.image.shape == (1, 3, 24, 20) and c.spacing == (8., 1.4, 1.6)
    assert c.image.min() == 0 and c.image.max() == 1
    assert set(np.unique(c.mask)) == {0, 1, 2, 3}
    s = ds.split(seed=5)
    assert [ds.ids[i] for i in s['test']] == ['patient002_ED', 'patient002_ES']
    assert [ds.ids[i] for i in s['valid']] == ['patient019_ED', 'patient019_ES']
    assert len(s['train']) == 4 and s == ds.split(0)             # fixed split
    assert ACDC(tmp_path/'ACDC'/'database'/'training', phases=('ES',), cache_dir=None).ids == \
        ['patient001_ES', 'patient002_ES', 'patient019_ES', 'patient030_ES']
    sl = VolumeSlices(ds)
    assert len(sl) == 8 * 3 and sl[0].image.shape == (24, 20, 1) and sl[0].spacing == (1.4, 1.6)
    assert {sl.volume_of(i) for i in sl.split()['test']} == set(s['test'])
    assert pickle.loads(pickle.dumps(ds)).ids == ds.ids         # picklable for data-loader workers


def test_acdc_split_lists():
    assert len(ACDC_TEST) == 20 and len(ACDC_VALID) == 10 and not set(ACDC_TEST) & set(ACDC_VALID)
    assert all(1 <= p <= 100 for p in ACDC_TEST + ACDC_VALID)


def test_acdc_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'): ACDC(tmp_path/'nothing')
    with pytest.raises(FileNotFoundError, match='no patientNNN folders'): ACDC(tmp_path)
    with pytest.raises(ValueError, match='phases'): ACDC(tmp_path, phases=('XX',))
    make_fake_acdc(tmp_path, patients=(1, 3), shape=(3, 24, 20))
    p1, p3 = tmp_path/'training'/'patient001', tmp_path/'training'/'patient003'
    # labels outside 0..3
    write_nifti(p1/'patient001_frame01_gt.nii.gz', np.full((3, 24, 20), 4, np.uint8), (10., 1.5, 1.5))
    with pytest.raises(ValueError, match=r'patient001_frame01_gt.nii.gz: label values \[4\]'): ACDC(tmp_path, cache_dir=None)[0]
    # non-integer labels
    write_nifti(p1/'patient001_frame01_gt.nii.gz', np.full((3, 24, 20), 0.5, np.float32), (10., 1.5, 1.5))
    with pytest.raises(ValueError, match='patient001_frame01_gt.nii.gz: label volume holds non-integer'): ACDC(tmp_path, cache_dir=None)[0]
    # shape mismatch
    write_nifti(p1/'patient001_frame01_gt.nii.gz', np.zeros((3, 24, 21), np.uint8), (10., 1.5, 1.5))
    with pytest.raises(ValueError, match=r'patient001_frame01_gt.nii.gz: label shape \(3, 24, 21\) differs'): ACDC(tmp_path, cache_dir=None)[0]
    # corrupt image
    (p1/'patient001_frame01.nii.gz').write_bytes(b'\x1f\x8b\x08 corrupt gzip')
    with pytest.raises(ValueError, match='patient001_frame01.nii.gz: cannot read NIfTI'): ACDC(tmp_path, cache_dir=None)[0]
    # constant image cannot be normalised
    write_nifti(p3/'patient003_frame01.nii.gz', np.ones((3, 24, 20), np.int16), (10., 1.5, 1.5))
    with pytest.raises(ValueError, match='patient003_frame01.nii.gz: intensities are constant'): ACDC(tmp_path, cache_dir=None)[2]
    # missing ES files, missing / broken Info.cfg
    es = ACDC(tmp_path, cache_dir=None).infos[2]['ES']
    os.remove(p3/f'patient003_frame{es:02d}.nii.gz')
    with pytest.raises(FileNotFoundError, match=f'patient003_frame{es:02d}.nii.gz: ES frame file not found'): ACDC(tmp_path)
    (p3/'Info.cfg').write_text('ED: one\n')
    with pytest.raises(ValueError, match='Info.cfg: no integer ED and ES'): ACDC(tmp_path)
    os.remove(p3/'Info.cfg')
    with pytest.raises(FileNotFoundError, match='patient003/Info.cfg: Info.cfg not found'): ACDC(tmp_path)


def test_acdc_ssl4mis_fake(tmp_path):
    root = make_fake_acdc_ssl4mis(tmp_path/'acdc', train=(3, 4, 5), valid=(2,), test=(1, 6), shape=(3, 24, 20))
    ds = ACDC(tmp_path/'acdc', cache_dir=tmp_path/'cache')
    check_protocol(ds)
    assert ds.layout == 'ssl4mis' and ds.nsd_units == 'px' and ds.split_name == 'ssl4mis' and len(ds) == 12
    s = ds.split(7)
    assert {k: [ds.ids[i] for i in v] for k, v in s.items()} == {
        'train': ['patient003_ED', 'patient003_ES', 'patient004_ED', 'patient004_ES', 'patient005_ED', 'patient005_ES'],
        'valid': ['patient002_ED', 'patient002_ES'],
        'test': ['patient001_ED', 'patient001_ES', 'patient006_ED', 'patient006_ES']}
    import h5py
    c = ds[ds.ids.index('patient004_ES')]                                      # stacked from slices 1..3 in order
    for k in range(3):
        with h5py.File(root/'data'/f'patient004_frame02_slice_{k + 1}.h5') as f:
            assert np.array_equal(c.mask[k], f['label'][()]) and np.allclose(c.image[0, k], f['image'][()])
    assert c.spacing == (1., 1., 1.) and c.meta['spacing_known'] is False and c.meta['frame'] == 2
    t = ds[0]
    with h5py.File(root/'data'/'patient001_frame01.h5') as f: assert np.array_equal(t.mask, f['label'][()])
    d = ds.describe()
    assert d['nsd_units'] == 'px' and d['spacing_known'] is False and d['n_cases_per_part'] == {'train': 6, 'valid': 2, 'test': 4}
    assert ACDC(root, phases=('ES',), cache_dir=None).ids[:2] == ['patient001_ES', 'patient002_ES']
    assert ACDC(root, layout='ssl4mis', cache_dir=None).ids == ds.ids
    sl = VolumeSlices(ds)
    assert len(sl) == 12 * 3 and sl.nsd_units == 'px' and sl[0].spacing == (1., 1.)
    assert pickle.loads(pickle.dumps(ds)).ids == ds.ids
    # a second layout beside it is not confused: the NIfTI fake is still NIfTI
    make_fake_acdc(tmp_path/'nifti', patients=(1,), shape=(3, 24, 20))
    n = ACDC(tmp_path/'nifti', cache_dir=None)
    assert n.layout == 'nifti' and n.nsd_units == 'mm' and n[0].meta['spacing_known'] is True


def test_acdc_ssl4mis_bad_input(tmp_path):
    root = make_fake_acdc_ssl4mis(tmp_path, train=(3,), valid=(2,), test=(1,), shape=(3, 24, 20))
    with pytest.raises(ValueError, match='layout must be one of'): ACDC(root, layout='h5')
    with pytest.raises(ValueError, match='training patients only'): ACDC(root, subset='testing')
    with pytest.raises(FileNotFoundError, match='no train.list and data/'): ACDC(tmp_path/'data', layout='ssl4mis')
    import h5py
    with h5py.File(root/'data'/'patient001_frame01.h5', 'w') as f:
        f.create_dataset('image', data=np.zeros((3, 24, 20), np.float32) + np.arange(20, dtype=np.float32))
        f.create_dataset('label', data=np.full((3, 24, 20), 7, np.uint8))
    with pytest.raises(ValueError, match=r'patient001_frame01.h5: label values \[7\]'): ACDC(root, cache_dir=None)[0]
    with h5py.File(root/'data'/'patient001_frame01.h5', 'w') as f: f.create_dataset('image', data=np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match=r"patient001_frame01.h5: no \['label'\] dataset"): ACDC(root, cache_dir=None)[0]
    (root/'data'/'patient001_frame01.h5').write_bytes(b'not hdf5')
    with pytest.raises(ValueError, match='patient001_frame01.h5: cannot read HDF5'): ACDC(root, cache_dir=None)[0]
    with h5py.File(root/'data'/'patient003_frame01_slice_2.h5', 'w') as f:   # one slice of another size
        f.create_dataset('image', data=np.ones((24, 21), np.float32)); f.create_dataset('label', data=np.zeros((24, 21), np.uint8))
    i = ACDC(root, cache_dir=None).ids.index('patient003_ED')
    with pytest.raises(ValueError, match=r'patient003_frame01_slice_2.h5: slice shape \(24, 21\) differs'): ACDC(root, cache_dir=None)[i]
    (root/'test.list').write_text('patient002_frame01\n')
    with pytest.raises(ValueError, match="patient002 is also in the 'valid' list"): ACDC(root)
    (root/'test.list').write_text('patient001_frame01\nrubbish\n')
    with pytest.raises(ValueError, match="'rubbish' is not a patientNNN_frameNN"): ACDC(root)
    (root/'test.list').write_text('patient001_frame01\n')
    for f in (root/'data').glob('patient003_frame02_slice_*.h5'): os.remove(f)
    with pytest.raises(FileNotFoundError, match='patient003_frame02.h5: volume of train.list not found'): ACDC(root)


@needs_shared('acdc-ssl4mis')
def test_acdc_real_ssl4mis(tmp_path):
    ds = ACDC(SHARED/'acdc-ssl4mis', cache_dir=tmp_path)
    s = ds.split()
    assert ds.layout == 'ssl4mis' and len(ds) == 200 and {k: len(v) for k, v in s.items()} == {'train': 140, 'valid': 20, 'test': 40}
    patients = {k: {ds.ids[i][:10] for i in v} for k, v in s.items()}
    assert [len(v) for v in patients.values()] == [70, 10, 20] and not patients['train'] & patients['test']
    tr, te = ds[s['train'][0]], ds[s['test'][0]]
    assert tr.meta['n_files'] > 1 and te.meta['n_files'] == 1 and tr.image.shape[:2] == (1, tr.meta['n_files'])
    assert set(np.unique(te.mask)) == {0, 1, 2, 3} and te.image.min() == 0 and te.image.max() == 1
    assert ds.nsd_units == 'px' and te.spacing == (1., 1., 1.)


# ---------------------------------------------------------------- MS lesions
@pytest.mark.parametrize('layout,maker,n_channels', [
    ('msseg2016', make_fake_msseg2016, 5), ('msseg2', make_fake_msseg2, 2), ('open_ms', make_fake_open_ms, 4)])
def test_ms_fakes(tmp_path, layout, maker, n_channels):
    maker(tmp_path/'Training', patients=5, shape=(10, 14, 12), spacing=(1.2, 1.0, 0.9))
    ds = MSLesions(tmp_path, layout, cache_dir=tmp_path/'cache')
    assert ds.n_channels == n_channels and len(ds) == 5
    check_protocol(ds)
    c = ds[0]
    assert c.image.shape == (n_channels, 10, 14, 12) and c.spacing == (1.2, 1.0, 0.9)
    assert c.image[:, c.image.max(0) == 0].size > 0            # zero outside the brain
    assert 0 < c.mask.sum() < c.mask.size / 10
    s = ds.split(0)
    assert (len(s['train']), len(s['test'])) == (3, 2) and s['valid'] == s['test']
    assert ds.split(1) != s or ds.split(2) != s                 # seeded


def test_msseg2016_split_15_patients(tmp_path):
    make_fake_msseg2016(tmp_path, patients=15, shape=(3, 5, 4))
    ds = MSLesions(tmp_path, cache_dir=None)
    s = ds.split(0)
    assert (len(s['train']), len(s['valid']), len(s['test'])) == (9, 6, 6)
    s = MSLesions(tmp_path, cache_dir=None, val_fraction=0.2).split(0)
    assert (len(s['train']), len(s['valid']), len(s['test'])) == (7, 2, 6)


def test_open_ms_real_sample(tmp_path):
    "The repository's cut of three real patients (SOURCE.md: 16 axial slices through the lesions, brain box)."
    ds = MSLesions(SAMPLES/'open-ms-sample', 'open_ms', cache_dir=tmp_path)
    assert ds.ids == ['patient07', 'patient19', 'patient26'] and ds.modalities == ('FLAIR', 'T1', 'T1POST', 'T2')
    c = ds[0]
    assert c.image.shape == (4, 16, 163, 130) and c.mask.shape == (16, 163, 130) and c.spacing == (1., 1., 1.)
    assert int(c.mask.sum()) == 431                            # SOURCE.md
    assert [int(ds[i].mask.sum()) for i in (1, 2)] == [19887, 4482]
    assert c.image.dtype == np.float32 and c.image.min() == 0 and c.image.max() == 1
    brain = c.image.max(0) > 0
    assert 0.6 < brain.mean() < 0.8 and c.mask[~brain].sum() == 0
    m = ds.get(0, mmap=True)                                   # cached: memory-mapped, same values
    assert isinstance(m.image, np.memmap) and np.array_equal(m.mask, c.mask)


def test_samples_are_small():
    "The tracked samples stay small (the whole tree travels to a GPU machine with a 64 MiB limit)."
    total = sum(f.stat().st_size for f in SAMPLES.rglob('*') if f.is_file())
    assert total < 6e6, f'data/samples holds {total / 1e6:.1f} MB'


@needs_shared('open-ms-sample')
def test_open_ms_sample_matches_full_files():
    "The cut keeps every voxel's MNI position: the same lesions as the full file at the same world coordinates."
    import nibabel as nib
    for p in ('patient07', 'patient26'):
        small = nib.load(next((SAMPLES/'open-ms-sample'/p).glob('GOLD_STANDARD_*')))
        full = nib.load(next((SHARED/'open-ms-sample'/p).glob('GOLD_STANDARD_*')))
        i, j, k = np.round(np.linalg.solve(full.affine, small.affine @ [0, 0, 0, 1])[:3]).astype(int)
        x, y, z = small.shape
        assert np.array_equal(np.asarray(small.dataobj), np.asarray(full.dataobj)[i:i + x, j:j + y, k:k + z])
        flair_s = nib.load(next((SAMPLES/'open-ms-sample'/p).glob('FLAIR_*'))).get_fdata()
        flair_f = nib.load(next((SHARED/'open-ms-sample'/p).glob('FLAIR_*'))).get_fdata()[i:i + x, j:j + y, k:k + z]
        assert np.abs(flair_s - flair_f).max() <= flair_f.max() / 1023


def test_ms_bad_input(tmp_path):
    with pytest.raises(ValueError, match='layout must be one of'): MSLesions(tmp_path, layout='brats')
    with pytest.raises(FileNotFoundError, match='not found'): MSLesions(tmp_path/'nothing')
    with pytest.raises(FileNotFoundError, match="no patient folders of the 'msseg2016' layout"): MSLesions(tmp_path)
    root = make_fake_msseg2016(tmp_path/'a', patients=2, shape=(8, 10, 9))
    pd = root/'Center_01'/'Patient_01'/'Preprocessed_Data'
    # modalities of different shapes
    write_nifti(pd/'GADO_preprocessed.nii.gz', np.ones((8, 10, 10), np.float32))
    with pytest.raises(ValueError, match=r'GADO_preprocessed.nii.gz: modality GADO has shape \(8, 10, 10\), but FLAIR_preprocessed.nii.gz'):
        MSLesions(root, cache_dir=None)[0]
    # corrupt modality
    (pd/'GADO_preprocessed.nii.gz').write_bytes(b'')
    with pytest.raises(ValueError, match='GADO_preprocessed.nii.gz: cannot read NIfTI'): MSLesions(root, cache_dir=None)[0]
    # labels outside {0, 1}
    masks = root/'Center_07'/'Patient_01'/'Masks'
    fake_spacing = (1.5, 1.0, 1.2)                              # make_fake_msseg2016's default
    write_nifti(masks/'Consensus.nii.gz', np.full((8, 10, 9), 2, np.uint8), fake_spacing)
    with pytest.raises(ValueError, match=r'Consensus.nii.gz: label values \[2\]'): MSLesions(root, cache_dir=None)[1]
    # mask of another shape / spacing
    write_nifti(masks/'Consensus.nii.gz', np.zeros((8, 10, 8), np.uint8), fake_spacing)
    with pytest.raises(ValueError, match=r'Consensus.nii.gz: mask shape \(8, 10, 8\) differs'): MSLesions(root, cache_dir=None)[1]
    write_nifti(masks/'Consensus.nii.gz', np.zeros((8, 10, 9), np.uint8), spacing=(2., 1., 1.))
    with pytest.raises(ValueError, match='Consensus.nii.gz: mask spacing'): MSLesions(root, cache_dir=None)[1]
    # missing modality and missing mask
    os.remove(pd/'DP_preprocessed.nii.gz')
    with pytest.raises(FileNotFoundError, match='DP_preprocessed.nii.gz: modality DP file not found'): MSLesions(root)
    write_nifti(pd/'DP_preprocessed.nii.gz', np.ones((8, 10, 9), np.float32), fake_spacing)
    os.remove(masks/'Consensus.nii.gz')
    with pytest.raises(FileNotFoundError, match='Center_07/Patient_01/Masks/Consensus.nii.gz: mask file not found'): MSLesions(root)


def test_open_ms_ambiguous_files(tmp_path):
    root = make_fake_open_ms(tmp_path, patients=1, shape=(6, 8, 7))
    make_fake_open_ms(tmp_path, patients=1, shape=(6, 8, 7), suffix='native')   # a second space beside the first
    with pytest.raises(ValueError, match='several modality FLAIR files'): MSLesions(root, 'open_ms')
    ds = MSLesions(root, 'open_ms', name_contains='native', cache_dir=None)
    assert all('native' in str(f) for f in ds.case_files(0))
    os.remove(root/'patient01'/'T1POST_native.nii.gz')
    with pytest.raises(FileNotFoundError, match=r'patient01/T1POST_\*.nii.gz: modality T1POST file not found'):
        MSLesions(root, 'open_ms', name_contains='native')


# ---------------------------------------------------------------- synthetic
@pytest.mark.parametrize('cls,classes,channels', [
    (SyntheticPolyps, ['background', 'polyp'], 3), (SyntheticCardiac, ['background', 'RV', 'MYO', 'LV'], 1),
    (SyntheticMS, ['background', 'lesion'], 5)])
def test_synthetic(cls, classes, channels):
    ds = cls(n=12, size=48, seed=3)
    assert ds.classes == classes and ds.n_channels == channels and ds.ndim == 2
    check_protocol(ds)
    a, b = ds[7], cls(n=100, size=48, seed=3)[7]                # case i depends on (seed, i) only
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.image.dtype == np.float32 and a.image.shape == (48, 48, channels)
    assert not np.array_equal(cls(n=12, size=48, seed=4)[7].image, a.image)
    freq = class_frequencies(ds)
    assert np.isclose(freq.sum(), 1) and freq[0] > 0.5


def test_synthetic_knobs():
    assert SyntheticPolyps(n=1, config=PolypConfig(noise=0.0)).config.noise == 0.0
    assert SyntheticPolyps(n=1, noise=0.2).config.noise == 0.2
    with pytest.raises(ValueError, match='noise'): SyntheticPolyps(noise=-1)
    with pytest.raises(ValueError, match='unknown knobs'): SyntheticCardiac(contrastt=1)
    with pytest.raises(ValueError, match='size'): SyntheticMS(size=8)
    small = class_frequencies(SyntheticPolyps(n=16, p_large=0.0, n_small=(1, 1)))[1]
    large = class_frequencies(SyntheticPolyps(n=16, p_large=1.0, n_small=(0, 0)))[1]
    assert small < 0.02 < large                                 # the knobs dial the class imbalance


# ---------------------------------------------------------------- masks in any binary encoding (issue 6 §2)
def _polyp(h=40, w=52):
    m = np.zeros((h, w), np.uint8); m[8:30, 12:40] = 1
    return m

def _save_mask(path, m, encoding):
    "Write the binary mask `m` in one of the encodings polyp datasets use."
    from PIL import Image
    if encoding == '01_png': Image.fromarray(m).save(path)
    elif encoding == '0255_png': Image.fromarray(m * 255).save(path)
    elif encoding == '1bit_png': Image.fromarray(m.astype(bool)).convert('1').save(path)
    elif encoding == 'rgb_jpeg_q75': Image.fromarray(np.repeat(m[..., None] * 255, 3, -1)).save(path, quality=75)
    elif encoding == 'grey_jpeg': Image.fromarray(m * 255).save(path, quality=90)
    elif encoding == 'red_png': Image.fromarray(np.stack([m * 255, 0 * m, 0 * m], -1)).save(path)
    elif encoding == 'palette_png':
        im = Image.fromarray(m, 'P'); im.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762); im.save(path)
    elif encoding == 'u16_png': Image.fromarray(m.astype(np.uint16) * 65535).save(path)
    elif encoding == '0255_tif': Image.fromarray(m * 255).save(path)
    else: raise KeyError(encoding)

ENCODINGS = {'01_png': '.png', '0255_png': '.png', '1bit_png': '.png', 'rgb_jpeg_q75': '.jpg', 'grey_jpeg': '.jpeg',
             'red_png': '.png', 'palette_png': '.png', 'u16_png': '.png', '0255_tif': '.tif'}

@pytest.mark.parametrize('encoding', list(ENCODINGS))
def test_kvasir_mask_encodings(tmp_path, encoding):
    "A binary mask reads as the same polyp in every common encoding (0/1 PNG read as empty before)."
    root = make_fake_kvasir(tmp_path/'k', n=2, size=(40, 52), bboxes=False)
    m = _polyp()
    os.remove(root/'masks'/'fake000.jpg')
    _save_mask(root/'masks'/f'fake000{ENCODINGS[encoding]}', m, encoding)
    got = KvasirSEG(root, cache_dir=None)[0].mask
    assert got.dtype == np.uint8 and set(np.unique(got)) <= {0, 1}
    if 'jpeg' in encoding: assert (got != m).mean() < 0.01
    else: assert np.array_equal(got, m)


@pytest.mark.parametrize('kind,message', [
    ('labels_012', r'not a binary mask: values \[0, 1, 2\]'),
    ('grey_levels', r'not a binary mask: values .*of the pixels between 64 and 191'),
    ('palette_3', r'not a binary mask: palette indices \[0, 1, 2\]'),
    ('two_colours', r'not a binary mask: 2 colours besides black'),
    ('dark_noise', r'not a binary mask: values')])
def test_kvasir_mask_not_binary(tmp_path, kind, message):
    "A label map or a grey image given as a mask is an error naming the file and its values, not a silent mask."
    from PIL import Image
    root = make_fake_kvasir(tmp_path/'k', n=2, size=(40, 52), bboxes=False)
    m = _polyp(); os.remove(root/'masks'/'fake001.jpg'); path = root/'masks'/'fake001.png'
    if kind == 'labels_012': a = m.copy(); a[:, 45:] = 2; Image.fromarray(a).save(path)
    elif kind == 'grey_levels': Image.fromarray(np.tile(np.linspace(0, 255, 52).astype(np.uint8), (40, 1))).save(path)
    elif kind == 'palette_3':
        a = m.copy(); a[:, 45:] = 2; im = Image.fromarray(a, 'P'); im.putpalette([0, 0, 0, 255, 255, 255, 128, 128, 128] + [0] * 759); im.save(path)
    elif kind == 'two_colours':
        a = np.zeros((40, 52, 3), np.uint8); a[m > 0, 0] = 255; a[:, 45:, 1] = 255; Image.fromarray(a).save(path)
    elif kind == 'dark_noise': Image.fromarray((np.random.default_rng(0).random((40, 52)) * 40).astype(np.uint8)).save(path)
    ds = KvasirSEG(root, cache_dir=None)
    with pytest.raises(ValueError, match=f'fake001.png: {message}'): ds[1]
    ds[0]                                                                        # the other case still reads


def test_kvasir_tif_images_and_same_stem(tmp_path):
    from PIL import Image
    root = make_fake_kvasir(tmp_path/'k', n=2, size=(40, 52), bboxes=False)
    img = np.asarray(Image.open(root/'images'/'fake000.jpg'))
    os.remove(root/'images'/'fake000.jpg'); Image.fromarray(img).save(root/'images'/'fake000.tif')
    os.remove(root/'masks'/'fake000.jpg'); Image.fromarray(_polyp() * 255).save(root/'masks'/'fake000.tiff')
    ds = KvasirSEG(root, cache_dir=None)
    assert ds.ids == ['fake000', 'fake001'] and np.array_equal(ds[0].image, img) and ds[0].mask.sum() == _polyp().sum()
    Image.fromarray(img).save(root/'images'/'fake001.png')                        # a second fake001 image
    with pytest.raises(ValueError, match=r'fake001.jpg and .*fake001.png: two files with the same name'): KvasirSEG(root)


# ---------------------------------------------------------------- the cache: checksums, failures, permissions (issue 6 §2-3)
def test_cache_checksum_rebuilds_corrupted_entry(tmp_path):
    "A cache file corrupted without changing its size is not served: it fails its checksum and is rebuilt."
    root = make_fake_kvasir(tmp_path/'k', n=1)
    ds = KvasirSEG(root, cache_dir=tmp_path/'cache')
    good = ds[0].image.copy()
    f = Path(str(ds.cache_path(0)) + '.image.npy')
    data = bytearray(f.read_bytes()); data[-100:] = bytes(100); f.write_bytes(bytes(data))   # same size, other pixels
    again = KvasirSEG(root, cache_dir=tmp_path/'cache')[0]
    assert np.array_equal(again.image, good)
    assert np.array_equal(read_cached_case(ds.cache_path(0)).image, good)         # and the entry was rewritten
    m = Path(str(ds.cache_path(0)) + '.mask.npy')
    data = bytearray(m.read_bytes()); data[-1] ^= 1; m.write_bytes(bytes(data))
    assert read_cached_case(ds.cache_path(0), mmap=True) is None


def test_cache_files_normal_permissions(tmp_path):
    root = make_fake_kvasir(tmp_path/'k', n=1)
    ds = KvasirSEG(root, cache_dir=tmp_path/'cache'); ds[0]
    umask = os.umask(0o022); os.umask(umask)
    for f in (tmp_path/'cache'/'KvasirSEG').iterdir(): assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f


@pytest.mark.parametrize('where', ['file', 'under_file', 'permission'])
def test_cache_write_failure_falls_back_with_one_warning(tmp_path, monkeypatch, where):
    import warnings, pmdice_nb.core, pmdice_nb.data.core as dc
    monkeypatch.setattr(dc, '_CACHE_WARNED', set())
    root = make_fake_kvasir(tmp_path/'k', n=3)
    (tmp_path/'afile').write_text('not a folder')
    cache = {'file': tmp_path/'afile', 'under_file': tmp_path/'afile'/'cache', 'permission': tmp_path/'cache'}[where]
    if where == 'permission':
        def refuse(path, data): raise PermissionError(13, 'Permission denied', str(path))
        monkeypatch.setattr(pmdice_nb.core, 'atomic_write_bytes', refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        ds = KvasirSEG(root, cache_dir=cache)
        cases = [ds[i] for i in range(3)] + [KvasirSEG(root, cache_dir=cache)[0]]
    assert all(c.mask.sum() > 0 for c in cases)
    msgs = [str(w.message) for w in caught if 'cannot write the data cache' in str(w.message)]
    assert len(msgs) == 1 and str(cache) in msgs[0], [str(w.message) for w in caught]


# ---------------------------------------------------------------- options and paths (issue 6 §3)
def test_dataset_options_of_the_real_loaders():
    "The new options (split, layout) pass the run configuration's check; a misspelt one is a ValueError naming it."
    from pmdice_nb.experiments import check_dataset_kwargs
    assert check_dataset_kwargs('kvasir', {'split': 'pranet', 'val_fraction': 0.1}) == {'split': 'pranet', 'val_fraction': 0.1}
    assert check_dataset_kwargs('acdc', {'layout': 'ssl4mis', 'cache_dir': None})
    with pytest.raises(ValueError, match=r"\['splt'\].*'split'"): check_dataset_kwargs('kvasir', {'splt': 'pranet'})


def test_data_notebooks_find_files_from_any_folder():
    "Notebooks locate data/samples from the package (nbdev runs the docs elsewhere, where '../data' does not exist)."
    from pmdice_nb.data.core import repo_path
    assert repo_path('data', 'samples') == SAMPLES
    nbs = Path(__file__).resolve().parents[1]/'nbs'
    for nb in ['03_data.core', '03b_data.kvasir', '03c_data.acdc', '03d_data.msseg', '03e_data.fakes']:
        text = (nbs/f'{nb}.ipynb').read_text()
        assert "'../" not in text and '"../' not in text, f'{nb}: a path relative to nbs/'


def test_kvasir_spacing_json(tmp_path):
    "A resized copy's spacing.json gives each case its pixel size in original pixels."
    root = make_fake_kvasir(tmp_path/'k', n=2)
    (root/'spacing.json').write_text(json.dumps({'fake000': [2.0, 3.0], 'fake001': [1.5, 1.5]}))
    ds = KvasirSEG(root, cache_dir=tmp_path/'cache')
    assert ds[0].spacing == (2., 3.) and ds[1].spacing == (1.5, 1.5) and 'spacing.json' in ds.describe()['pixel_size']
    (root/'spacing.json').write_text(json.dumps({'fake000': [2.0, 3.0], 'fake001': [1.0, 1.0]}))
    assert KvasirSEG(root, cache_dir=tmp_path/'cache')[1].spacing == (1., 1.)   # a changed file: not the old cache entry
    (root/'spacing.json').write_text(json.dumps({'fake000': [2.0, 3.0]}))
    with pytest.raises(ValueError, match=r'spacing.json: no pixel size for 1 images'): KvasirSEG(root)
    (root/'spacing.json').write_text(json.dumps({'fake000': [2.0, 3.0], 'fake001': [0, 1]}))
    with pytest.raises(ValueError, match=r'spacing.json: pixel size of fake001 must be two positive numbers'): KvasirSEG(root)


# ---------------------------------------------------------------- scripts/pack_gpu_data.py (issue 9 §3)
def _pack_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location('pack_gpu_data', Path(__file__).resolve().parents[1]/'scripts'/'pack_gpu_data.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_pack_gpu_data_kvasir(tmp_path):
    "The packed copy reads with the same loader and split; its masks are the learner's resize of the originals."
    import torch
    from pmdice_nb.augment import prepare_case
    pack = _pack_module()
    src = make_fake_kvasir(tmp_path/'src', n=4, size=(40, 52), pranet_lists=True)
    pack.pack_kvasir(src, tmp_path/'gpu'/'kvasir-seg', size=32, workers=1)
    assert sorted(p.name for p in (tmp_path/'gpu').iterdir()) == ['kvasir-seg']   # written beside, then put in place whole
    a, b = KvasirSEG(src, cache_dir=None, split='pranet'), KvasirSEG(tmp_path/'gpu'/'kvasir-seg', cache_dir=None, split='pranet')
    assert a.ids == b.ids and a.split(0) == b.split(0) and b.bboxes['fake000']['width'] == 32
    for i in range(len(a)):
        assert b[i].image.shape == (32, 32, 3) and b[i].spacing == (40 / 32, 52 / 32)
        ia, ma, sa = prepare_case(a[i], (32, 32)); ib, mb, sb = prepare_case(b[i], (32, 32))
        assert torch.equal(ma, mb) and np.allclose(sa, sb) and (ia - ib).abs().mean() < 0.03


def test_pack_gpu_data_acdc(tmp_path):
    pack = _pack_module()
    src = make_fake_acdc_ssl4mis(tmp_path/'src', train=(3,), valid=(2,), test=(1,), shape=(3, 24, 20))
    pack.pack_acdc(src, tmp_path/'gpu'/'acdc-ssl4mis', bits=7, workers=1)
    a, b = ACDC(src, cache_dir=None), ACDC(tmp_path/'gpu'/'acdc-ssl4mis', cache_dir=None)
    assert a.ids == b.ids and a.split() == b.split() and b.layout == 'ssl4mis'
    for i in range(len(a)):
        assert np.array_equal(a[i].mask, b[i].mask) and np.abs(a[i].image - b[i].image).max() <= 0.5 / 127 + 1e-6
    assert not list((tmp_path/'gpu'/'acdc-ssl4mis'/'data').glob('*_slice_*'))       # training volumes stored whole


# ---------------------------------------------------------------- issue 17: palette masks, install hints, no machine paths
import sys

def _palette_mask(path, m, palette, fg_index=1):
    from PIL import Image
    im = Image.fromarray((m * fg_index).astype(np.uint8), 'P')
    im.putpalette(palette + [0] * (768 - len(palette)))
    im.save(path)

VOC = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128, 128, 128, 128, 128]  # VOC's first 8

@pytest.mark.parametrize('palette, fg_index', [
    ([0, 0, 0, 255, 255, 255], 1),   # index 1 brighter than index 0
    ([255, 255, 255, 0, 0, 0], 1),   # index 1 darker than index 0: index 0 is still the background
    ([200, 200, 200, 10, 10, 10], 1),
    (VOC, 1),                        # VOC colours: black background, dark red class 1
    (VOC, 7),                        # VOC colours, the object at another index
])
def test_palette_masks_read_by_index(tmp_path, palette, fg_index):
    from pmdice_nb.data.core import read_mask
    m = _polyp()
    _palette_mask(tmp_path/'m.png', m, palette, fg_index)
    assert np.array_equal(read_mask(tmp_path/'m.png'), m)
    _palette_mask(tmp_path/'empty.png', 0 * m, palette)
    assert read_mask(tmp_path/'empty.png').sum() == 0


def test_palette_mask_without_a_background_index(tmp_path):
    from pmdice_nb.data.core import read_mask
    _palette_mask(tmp_path/'m.png', _polyp() + 1, [0, 0, 0, 255, 255, 255, 9, 9, 9])  # indices 1 and 2
    with pytest.raises(ValueError, match=r'm.png: .*palette indices \[1, 2\].*index 0'): read_mask(tmp_path/'m.png')


@pytest.mark.parametrize('module, what', [('nibabel', 'acdc'), ('nibabel', 'ms'), ('nibabel', 'read_nifti'),
                                          ('h5py', 'acdc_ssl4mis'), ('h5py', 'read_h5_case')])
def test_a_missing_reader_says_what_to_install(tmp_path, monkeypatch, module, what):
    from pmdice_nb.data.core import read_nifti
    from pmdice_nb.data.acdc import read_h5_case
    data = {'acdc': lambda: make_fake_acdc(tmp_path/'a', patients=(1, 2)), 'ms': lambda: make_fake_msseg2016(tmp_path/'m', patients=2),
            'acdc_ssl4mis': lambda: make_fake_acdc_ssl4mis(tmp_path/'h', train=(1,), valid=(2,), test=(3,), shape=(2, 8, 8)),
            'read_nifti': lambda: tmp_path/'x.nii.gz', 'read_h5_case': lambda: tmp_path/'x.h5'}[what]()  # written first
    call = {'acdc': lambda: ACDC(data, cache_dir=None), 'ms': lambda: MSLesions(data, cache_dir=None),
            'acdc_ssl4mis': lambda: ACDC(data, cache_dir=None), 'read_nifti': lambda: read_nifti(data),
            'read_h5_case': lambda: read_h5_case(data)}[what]
    monkeypatch.setitem(sys.modules, module, None)   # as if it were not installed
    with pytest.raises(ImportError) as e: call()
    assert f'pip install {module}' in str(e.value) and '\n' not in str(e.value)


def test_descriptions_hold_no_machine_paths(tmp_path):
    k = KvasirSEG(make_fake_kvasir(tmp_path/'kvasir-seg', n=8, split_lists=True), cache_dir=None)
    d = k.describe()
    assert d['root'] == 'kvasir-seg' and d['split_files'] == ['train.txt', 'val.txt'] and d['test_ids_sha1']
    a = ACDC(make_fake_acdc_ssl4mis(tmp_path/'acdc', train=(1, 2), valid=(3,), test=(4,), shape=(2, 8, 8)), cache_dir=None)
    d = a.describe()
    assert d['root'] == 'acdc' and len(d['test_ids_sha1']) == 12
    assert str(tmp_path) not in json.dumps([k.describe(), a.describe()])
