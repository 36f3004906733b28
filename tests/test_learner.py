"Integration tests of pmdice_nb.learner: DataLoaders for every dataset kind, models, pretrained fallback, evaluation."
import warnings
from pathlib import Path
import numpy as np
import pytest
import torch
from fastai.torch_core import TensorMask, set_seed

import pmdice_nb.learner as learner
from pmdice_nb.augment import SegImage, ElasticDeform, RandomCropPair, prepare_case, seg_dataloaders
from pmdice_nb.models import UNet, imagenet_weights_available
from pmdice_nb.learner import predict_case, evaluate, seg_learner, fit_poly, PolyLR
from pmdice_nb.data.core import Case
from pmdice_nb.data.synthetic import SyntheticPolyps, SyntheticCardiac, SyntheticMS
from pmdice_nb.data.kvasir import KvasirSEG
from pmdice_nb.data.acdc import ACDC
from pmdice_nb.data.msseg import MSLesions
from pmdice_nb.data.fakes import make_fake_acdc, make_fake_msseg2016

SAMPLES = Path(__file__).resolve().parents[1] / 'data' / 'samples'


pytestmark = pytest.mark.usefixtures('one_thread')   # tests/conftest.py


def _check_batch(dls, n_channels, n_classes, size):
    x, y = dls.one_batch()
    assert isinstance(x, SegImage) and isinstance(y, TensorMask)
    assert x.dtype == torch.float32 and y.dtype == torch.long
    assert x.shape[1] == n_channels and tuple(x.shape[-2:]) == tuple(size) and tuple(y.shape[-2:]) == tuple(size)
    assert 0 <= int(y.min()) and int(y.max()) < n_classes
    assert dls.c == n_classes


def test_dataloaders_synthetic_kinds():
    for ds, ch, c in ((SyntheticPolyps(n=6, size=32), 3, 2), (SyntheticCardiac(n=6, size=32), 1, 4),
                      (SyntheticMS(n=6, size=32), SyntheticMS(n=1, size=32).n_channels, 2)):
        dls = seg_dataloaders(ds, bs=2, size=(32, 32), crop=(24, 24), device='cpu')
        _check_batch(dls, ch, c, (24, 24))
        xv, _ = dls.valid.one_batch()
        assert tuple(xv.shape[-2:]) == (32, 32)


def test_dataloaders_kvasir_sample_uses_paper_sizes(tmp_path):
    ds = KvasirSEG(SAMPLES / 'kvasir-seg-sample', cache_dir=tmp_path / 'cache')
    split = {'train': [0, 1, 2], 'valid': [3], 'test': [4]}
    dls = seg_dataloaders(ds, split, bs=2, device='cpu', augment=False)
    assert dls.image_size == (320, 320) and dls.crop_size == (256, 256)
    _check_batch(dls, 3, 2, (256, 256))
    x, y = dls.valid.one_batch()
    assert tuple(x.shape) == (1, 3, 320, 320) and set(y.unique().tolist()) <= {0, 1}


def test_dataloaders_acdc_fake_slices_volumes(tmp_path):
    ds = ACDC(make_fake_acdc(tmp_path / 'acdc'), cache_dir=None)
    split = ds.split(0)
    depth = sum(ds[i].mask.shape[0] for i in split['train'])
    dls = seg_dataloaders(ds, split, bs=2, size=(32, 32), device='cpu')
    assert len(dls.train_ds) == depth  # one item per slice
    _check_batch(dls, 1, 4, (32, 32))


def test_dataloaders_msseg_fake_five_modalities(tmp_path):
    ds = MSLesions(make_fake_msseg2016(tmp_path / 'ms'), layout='msseg2016', cache_dir=None)
    dls = seg_dataloaders(ds, bs=2, size=(24, 24), device='cpu')
    _check_batch(dls, 5, 2, (24, 24))
    dls.show_batch(max_n=2)  # five channels are shown by the first one


def test_prepare_case_resizes_and_scales_spacing():
    image = np.random.rand(2, 3, 40, 20).astype(np.float32)
    mask = np.zeros((3, 40, 20), np.uint8); mask[:, 10:30, 5:15] = 1
    case = Case('v', image, mask, (3., 0.5, 1.))
    x, y, spacing = prepare_case(case, (20, 10))
    assert tuple(x.shape) == (3, 2, 20, 10) and tuple(y.shape) == (3, 20, 10)
    assert spacing == (3., 1., 2.)
    assert set(y.unique().tolist()) == {0, 1}


def test_crop_pads_small_slices_and_keeps_pairs_aligned():
    x = SegImage(torch.arange(36.).reshape(1, 6, 6)); y = TensorMask(torch.arange(36).reshape(6, 6))
    xc, yc = RandomCropPair((8, 4))((x, y), split_idx=0)
    assert tuple(xc.shape) == (1, 8, 4) and tuple(yc.shape) == (8, 4)
    assert torch.equal(xc[0].as_subclass(torch.Tensor).long(), yc.as_subclass(torch.Tensor))  # same crop for both


def test_elastic_zero_magnitude_is_identity():
    x = SegImage(torch.rand(2, 4, 16, 16)); y = TensorMask(torch.randint(0, 3, (2, 16, 16)))
    xe, ye = ElasticDeform(p=1., magnitude=0.)((x, y), split_idx=0)
    plain = lambda t: t.as_subclass(torch.Tensor)
    assert torch.allclose(plain(xe), plain(x), atol=1e-5) and torch.equal(plain(ye), plain(y))
    with pytest.raises(ValueError, match='1.5'): ElasticDeform(p=1.5)


def test_unet_shapes_and_bad_values():
    for head in ('full', 'quarter'):
        assert tuple(UNet(2, 3, features=4, head=head)(torch.rand(1, 2, 33, 47)).shape) == (1, 3, 33, 47)
    with pytest.raises(ValueError, match='-1'): UNet(2, 3, features=-1)


def test_poly_lr():
    assert PolyLR(1e-4)(0.) == 1e-4 and PolyLR(1e-4)(1.) == 0.
    assert PolyLR(1.)(0.5) == pytest.approx(0.5 ** 0.9)


def test_pretrained_fallback_warns_once(monkeypatch):
    monkeypatch.setattr(learner, 'imagenet_weights_available', lambda *a, **k: False)
    dls = seg_dataloaders(SyntheticPolyps(n=6, size=32), bs=2, size=(32, 32), crop=False, device='cpu')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        learn = seg_learner(dls, arch='resnet34', loss='dice', pretrained=True, head='quarter', checkpoint=None)
    ours = [w for w in caught if 'ImageNet' in str(w.message)]
    assert len(ours) == 1 and 'random weights' in str(ours[0].message)
    assert learn.pretrained is False
    assert tuple(learn.model(torch.rand(2, 3, 32, 32)).shape) == (2, 2, 32, 32)
    assert all(p.requires_grad for p in learn.model.parameters())  # the encoder is trained too


def test_imagenet_weights_unreadable_cache_is_not_available(tmp_path, monkeypatch):
    "A broken file in torch's cache means no weights (and no network is needed to find out)."
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    ckpt = tmp_path / 'hub' / 'checkpoints'; ckpt.mkdir(parents=True)
    (ckpt / 'resnet34-b627a593.pth').write_bytes(b'not a checkpoint')
    assert imagenet_weights_available() is False


def test_seg_learner_bad_values():
    dls = seg_dataloaders(SyntheticPolyps(n=6, size=32), bs=2, size=(32, 32), crop=False, device='cpu')
    with pytest.raises(ValueError, match="'vgg16'"): seg_learner(dls, arch='vgg16')
    with pytest.raises(ValueError, match="'pm_dicee'"): seg_learner(dls, arch='unet', loss='pm_dicee')
    with pytest.raises(ValueError, match="'half'"): seg_learner(dls, arch='unet', head='half')
    with pytest.raises(ValueError, match='bs must be >= 1, got 0'): seg_dataloaders(SyntheticPolyps(n=6, size=32), bs=0)


def test_train_evaluate_volumes_reassembled(tmp_path):
    "ACDC fake: train one epoch, evaluate whole volumes at the resized grid with scaled spacing; checkpoints written."
    ds = ACDC(make_fake_acdc(tmp_path / 'acdc'), cache_dir=None)
    split = ds.split(0)
    dls = seg_dataloaders(ds, split, bs=2, size=(16, 16), device='cpu')
    learn = seg_learner(dls, arch='unet', features=4, loss='ce+pm_dice', path=tmp_path / 'work', seed=0)
    with learn.no_bar(), learn.no_logging(): fit_poly(learn, 1)
    assert (tmp_path / 'work' / 'models' / 'last.pth').is_file()
    case = ds[split['test'][0]]
    pred, target, spacing = predict_case(learn, case)
    assert pred.shape == target.shape == (case.mask.shape[0], 16, 16)
    assert spacing[0] == case.spacing[0] and spacing[1] == pytest.approx(case.spacing[1] * case.mask.shape[1] / 16)
    summary, per_case = evaluate(learn, ds, split['test'], progress=False)
    assert len(per_case) == len(split['test']) and per_case[0]['id'] == case.id
    assert {'mDice', 'mNSD', 'Dice_RV', 'Dice_MYO', 'Dice_LV'} <= set(summary)
    assert all(0 <= summary[k] <= 1 for k in ('mDice', 'mIoU') if np.isfinite(summary[k]))


def test_training_learns_synthetic_polyps():
    "A few epochs of a small U-Net beat the trivial all-polyp prediction by far."
    set_seed(0)
    ds = SyntheticPolyps(n=60, size=64, seed=0)
    split = ds.split(0)
    dls = seg_dataloaders(ds, split, bs=8, size=(64, 64), crop=False, device='cpu')
    learn = seg_learner(dls, arch='unet', features=8, lr=3e-3, loss='pm_dice', checkpoint=None, seed=0)
    with learn.no_bar(), learn.no_logging(): fit_poly(learn, 12)
    summary, _ = evaluate(learn, ds, split['test'], progress=False)
    trivial = np.mean([2 * (ds[i].mask > 0).mean() / ((ds[i].mask > 0).mean() + 1) for i in split['test']])
    assert summary['mDice'] > trivial + 0.3, (summary['mDice'], trivial)


def test_predict_export_and_load_learner_on_multichannel_data(tmp_path):
    "fastai's inference API on the library's learner: predict (image or 2D case), export, load_learner; volumes refused."
    from fastai.learner import load_learner
    ds = SyntheticMS(n=8, size=32, seed=0)
    split = ds.split(seed=0)
    dls = seg_dataloaders(ds, split, bs=4, size=(32, 32), crop=False, device='cpu')
    learn = learner.seg_learner(dls, arch='unet', features=4, loss='ce+pm_dice', checkpoint=None, path=tmp_path)
    with learn.no_bar(), learn.no_logging(): learner.fit_poly(learn, 1)
    case = ds[split['test'][0]]
    with learn.no_bar():
        labels, _, probs = learn.predict(case)
        assert labels.shape == (32, 32) and probs.shape == (2, 32, 32)
        assert torch.equal(learn.predict(case.channels_first())[0], labels)        # array (C, H, W)
        learn.export(tmp_path / 'export.pkl')
    loaded = load_learner(tmp_path / 'export.pkl')
    with loaded.no_bar(): assert torch.equal(loaded.predict(case)[0], labels)
    volume = Case('v', np.zeros((5, 2, 8, 8), np.float32), np.zeros((2, 8, 8), np.uint8), (1., 1., 1.))
    with pytest.raises(ValueError, match='volume'): dls.test_dl([volume])
    with pytest.raises(ValueError, match=r'\(C, H, W\)'): dls.test_dl([np.zeros((8, 8))])


class _Payload:
    "Unpickling this object creates `marker`: a stand-in for code hidden in a checkpoint."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (open, (self.marker, 'w'))


def test_checkpoint_loading_never_unpickles_code(tmp_path):
    "A pickle dropped in a run's work folder as best.pth is refused with a clear error, not executed."
    from fastai.callback.core import Callback
    marker = tmp_path / 'pwned'
    class DropPickle(Callback):
        order = learner.Checkpoints.order + 1   # right after `Checkpoints` saved best.pth
        def after_epoch(self): torch.save({'model': _Payload(marker)}, tmp_path / 'work' / 'models' / 'best.pth')
    dls = seg_dataloaders(SyntheticPolyps(n=6, size=32), bs=2, size=(32, 32), crop=False, device='cpu')
    learn = seg_learner(dls, arch='unet', features=4, loss='dice', checkpoint='best', path=tmp_path / 'work', seed=0)
    with pytest.raises(ValueError, match='best.pth'):
        with learn.no_bar(), learn.no_logging(): fit_poly(learn, 1, cbs=[DropPickle()])
    assert not marker.exists()


def test_checkpoint_best_reloads_weights(tmp_path):
    "`checkpoint='best'` still restores the saved weights through the safe path."
    dls = seg_dataloaders(SyntheticPolyps(n=6, size=32), bs=2, size=(32, 32), crop=False, device='cpu')
    learn = seg_learner(dls, arch='unet', features=4, loss='dice', checkpoint='best', path=tmp_path, seed=0)
    with learn.no_bar(), learn.no_logging(): fit_poly(learn, 2)
    from fastcore.foundation import L
    with torch.serialization.safe_globals([L]): best = torch.load(tmp_path / 'models' / 'best.pth', weights_only=True)
    assert set(best) == set(learn.model.state_dict()), "weights only: no optimizer state in the file"
    assert all(torch.equal(v, best[k]) for k, v in learn.model.state_dict().items())


def test_checkpoint_last_saves_no_best(tmp_path):
    "`checkpoint='last'` never writes best.pth, and last.pth holds the weights without the optimizer state."
    dls = seg_dataloaders(SyntheticPolyps(n=6, size=32), bs=2, size=(32, 32), crop=False, device='cpu')
    learn = seg_learner(dls, arch='unet', features=4, loss='dice', checkpoint='last', path=tmp_path, seed=0)
    with learn.no_bar(), learn.no_logging(): fit_poly(learn, 2)
    assert not (tmp_path / 'models' / 'best.pth').exists()
    last = torch.load(tmp_path / 'models' / 'last.pth', weights_only=True)
    assert set(last) == set(learn.model.state_dict())


def test_adamw_option_trains_with_torch_adamw(tmp_path):
    "`opt='adamw'` trains with `torch.optim.AdamW` at the learner's lr and weight decay."
    dls = seg_dataloaders(SyntheticPolyps(n=6, size=32), bs=2, size=(32, 32), crop=False, device='cpu')
    learn = seg_learner(dls, arch='unet', features=4, loss='dice', checkpoint=None, opt='adamw', lr=2e-3, path=tmp_path, seed=0)
    before = [p.detach().clone() for p in learn.model.parameters()]
    with learn.no_bar(), learn.no_logging(): fit_poly(learn, 1)
    assert type(learn.opt.opt).__name__ == 'AdamW'
    assert learn.opt.opt.param_groups[0]['weight_decay'] == 1e-4
    assert any(not torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))


def test_docs_processing_runs_the_learner_notebooks():
    "nbdev's docs step executes export, import and show_doc cells out of order: they must not need a lesson's variables."
    from nbdev.process import NBProcessor
    from nbdev.processors import populate_language, add_show_docs, exec_show_docs
    nbs = Path(__file__).resolve().parents[1] / 'nbs'
    for name in ('04a_augment', '04b_models', '04c_learner'):
        NBProcessor(nbs / f'{name}.ipynb', [populate_language, add_show_docs, exec_show_docs], rm_directives=False).process()


# ---------------------------------------------------------------- the fast path (pmdice_nb.augment)
from pmdice_nb.augment import SliceTensors, FastSegDL, BatchAugment


def test_fast_path_is_default_only_on_cuda():
    ds = SyntheticPolyps(n=6, size=32)
    assert not isinstance(seg_dataloaders(ds, bs=2, size=(32, 32), device='cpu').train, FastSegDL)
    dls = seg_dataloaders(ds, bs=2, size=(32, 32), crop=(24, 24), device='cpu', fast=True)
    assert isinstance(dls.train, FastSegDL) and dls.fast
    _check_batch(dls, 3, 2, (24, 24))


def test_fast_path_kvasir_sample_uint8_and_paper_sizes(tmp_path):
    ds = KvasirSEG(SAMPLES / 'kvasir-seg-sample', cache_dir=tmp_path / 'cache')
    dls = seg_dataloaders(ds, {'train': [0, 1, 2], 'valid': [3], 'test': [4]}, bs=2, device='cpu', fast=True)
    assert dls.train.dataset.images.dtype == torch.uint8 and tuple(dls.train.dataset.images.shape[1:]) == (3, 320, 320)
    _check_batch(dls, 3, 2, (256, 256))
    x, y = dls.valid.one_batch()
    plain = seg_dataloaders(ds, {'train': [0, 1, 2], 'valid': [3], 'test': [4]}, bs=2, device='cpu', fast=False)
    xp, yp = plain.valid.one_batch()
    assert torch.equal(y.as_subclass(torch.Tensor), yp.as_subclass(torch.Tensor))         # same masks
    assert (x - xp).abs().max() <= 0.5 / 255 + 1e-3                                        # uint8 vs float16 storage


def test_fast_crop_alone_is_exact_and_pads():
    x = SegImage(torch.arange(2 * 36.).reshape(2, 1, 6, 6)); y = TensorMask(torch.arange(72).reshape(2, 6, 6))
    xc, yc = BatchAugment((8, 4), augment=False)((x, y), split_idx=0)
    assert tuple(xc.shape) == (2, 1, 8, 4) and tuple(yc.shape) == (2, 8, 4)
    for i in range(2):   # rows 0-5 are a 6×4 window of the slice, rows 6-7 the zero padding
        assert torch.equal(xc[i, 0].as_subclass(torch.Tensor).long(), yc[i].as_subclass(torch.Tensor))
        left = int(yc[i, 0, 0]) - 36 * i
        assert torch.equal(yc[i, :6].as_subclass(torch.Tensor), y[i, :, left:left + 4].as_subclass(torch.Tensor))
        assert int(yc[i, 6:].abs().sum()) == 0


def test_fast_augmentation_labels_and_bad_values():
    set_seed(0)
    y = TensorMask(torch.randint(0, 4, (6, 4, 4)).repeat_interleave(8, 1).repeat_interleave(8, 2))   # 8×8 blocks
    xa, ya = BatchAugment((24, 24), elastic_p=1.)((SegImage(y[:, None].float()), y), split_idx=0)
    assert set(ya.unique().tolist()) <= {0, 1, 2, 3} and ya.dtype == torch.long
    assert ((xa[:, 0] - ya.float()).abs() < 0.5).float().mean() > 0.9    # same positions for image and mask
    for bad in (dict(crop=(0, 4)), dict(p_affine=2.), dict(max_zoom=0.5), dict(elastic_magnitude=-1.), dict(grid=1)):
        with pytest.raises(ValueError): BatchAugment(**bad)


def test_fast_path_trains_evaluates_exports(tmp_path):
    from fastai.learner import load_learner
    ds = SyntheticMS(n=8, size=32, seed=0)
    split = ds.split(seed=0)
    dls = seg_dataloaders(ds, split, bs=4, size=(32, 32), crop=(24, 24), device='cpu', fast=True)
    learn = seg_learner(dls, arch='unet', features=4, loss='ce+pm_dice', checkpoint=None, path=tmp_path)
    with learn.no_bar(), learn.no_logging(): fit_poly(learn, 1)
    assert np.isfinite(learn.recorder.values[-1][0])
    summary, per_case = evaluate(learn, ds, split['test'], progress=False)
    assert len(per_case) == len(split['test']) and 0 <= summary['mDice'] <= 1
    case = ds[split['test'][0]]
    with learn.no_bar():
        labels = learn.predict(case)[0]
        assert labels.shape == (32, 32) and torch.equal(labels, torch.as_tensor(predict_case(learn, case)[0]).long())
        learn.export(tmp_path / 'export.pkl')
    loaded = load_learner(tmp_path / 'export.pkl')
    with loaded.no_bar(): assert torch.equal(loaded.predict(case)[0], labels)
    dls.show_batch(max_n=2)


def test_fast_path_needs_one_size():
    cases = [Case(str(s), np.zeros((s, s, 3), np.float32), np.zeros((s, s), np.uint8), (1., 1.)) for s in (8, 10)]
    with pytest.raises(ValueError, match='size'): SliceTensors.from_dataset(cases, [0, 1], size=None)
    assert tuple(SliceTensors.from_dataset(cases, [0, 1], size=(6, 6)).images.shape) == (2, 3, 6, 6)


def test_bench_train_runs_small(tmp_path):
    "bench/train.py (throughput, step split, study of fast vs plain) runs end to end on the CPU in tiny sizes."
    import importlib.util
    spec = importlib.util.spec_from_file_location('bench_train', Path(__file__).resolve().parents[1] / 'bench' / 'train.py')
    bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
    result = bench.main(['--device', 'cpu', '--tiny', '--bs', '2', '--out', str(tmp_path / 'train')])
    assert {r['path'] for r in result['rows']} == {'fast', 'plain'}
    for r in result['rows']:
        assert r['images_per_s'] > 0 and set(r['split_ms']) == set(bench.PHASES)
        assert abs(sum(r['split_pct'].values()) - 100) < 1
    assert (tmp_path / 'train.md').read_text().count('| fast |') == 1
    study = bench.main(['--device', 'cpu', '--tiny', '--study', '--seeds', '0', '--out', str(tmp_path / 'study')])
    assert set(study['summary']) == {'fast', 'plain'} and len(study['runs']) == 2
    assert bench.largest_batch([{'bs': 8, 'peak_gib': 2.}, {'bs': 16, 'peak_gib': 3.}])['bs'] == 120   # 1 + bs/8 GiB = 16 GiB


def test_evaluate_cases_scores_any_predictor_on_volumes(tmp_path):
    "The per-case loop under `evaluate`: any predictor, volumes scored whole at the resized grid; wrong shapes named."
    from pmdice_nb.learner import evaluate_cases
    from pmdice_nb.metrics import case_metrics
    ds = ACDC(make_fake_acdc(tmp_path / 'acdc'), cache_dir=None)
    idx = ds.split(0)['test']
    foreground = lambda case: np.ones_like(prepare_case(case, (16, 16), images=False)[1])
    summary, per_case = evaluate_cases(ds, idx, foreground, size=(16, 16), progress=False)
    case = ds[idx[0]]
    _, target, spacing = prepare_case(case, (16, 16))
    ref = case_metrics(np.ones_like(target.numpy()), target.numpy(), len(ds.classes), spacing, ds.nsd_tolerance)
    assert len(per_case) == len(idx) and per_case[0]['id'] == case.id
    assert per_case[0]['dice'] == pytest.approx(np.asarray(ref['dice']).tolist(), nan_ok=True)
    assert per_case[0]['nsd'] == pytest.approx(np.asarray(ref['nsd']).tolist(), nan_ok=True)
    with pytest.raises(ValueError, match=case.id): evaluate_cases(ds, idx, lambda c: np.ones((2, 2)), size=(16, 16), progress=False)
