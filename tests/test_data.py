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
from pmdice_nb.data.fakes import (make_fake_kvasir, make_fake_acdc, make_fake_msseg2016, make_fake_msseg2,
                                  make_fake_open_ms, write_nifti)

SAMPLES = Path(__file__).resolve().parents[1]/'data'/'samples'


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
    "One real patient (the three take a few seconds each; the notebook shows them)."
    ds = MSLesions(SAMPLES/'open-ms-sample', 'open_ms', cache_dir=tmp_path)
    assert ds.ids == ['patient07', 'patient19', 'patient26'] and ds.modalities == ('FLAIR', 'T1', 'T1POST', 'T2')
    c = ds[0]
    assert c.image.shape == (4, 182, 218, 182) and c.mask.shape == (182, 218, 182) and c.spacing == (1., 1., 1.)
    assert int(c.mask.sum()) == 1300                           # SOURCE.md
    assert c.image.dtype == np.float32 and c.image.min() == 0 and c.image.max() == 1
    brain = c.image.max(0) > 0
    assert 0.1 < brain.mean() < 0.3 and c.mask[~brain].sum() == 0
    # RAS: the file is LAS, so the last array axis (x) is flipped; the brain's centre of mass stays near the middle
    assert abs(np.argwhere(brain).mean(0)[2] - 91) < 10
    m = ds.get(0, mmap=True)                                   # cached: memory-mapped, same values
    assert isinstance(m.image, np.memmap) and np.array_equal(m.mask, c.mask)


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
