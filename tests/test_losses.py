"Bad-input matrix and numerical edge cases of every loss (the lessons in nbs/01a_losses_core.ipynb and nbs/01b_losses.ipynb test the maths)."
import pickle, math
import pytest, torch
from pmdice_nb.losses import LOSSES, PAPER_LOSSES, get_loss, PMDiceLoss, DiceLoss, CompoundLoss

ALL = sorted(LOSSES) + [n for n in PAPER_LOSSES if '+' in n]

def data(n=2, c=3, shape=(8, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, *shape, generator=g), torch.randint(0, c, (n, *shape), generator=g)

@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('bad, match', [
    (lambda x, t: (x, t[:, :4]), 'does not match'),
    (lambda x, t: (x, t.clone().fill_(3)), r'\[3\] outside \[0, 3\)'),
    (lambda x, t: (x, t - 1), r'\[-1\] outside'),
    (lambda x, t: (x.long(), t), 'float tensor'),
    (lambda x, t: (x[:, :1], t.clamp(0, 0)), 'at least 2 classes'),
    (lambda x, t: (x[0], t[0]), r'\(N, C, H, W\)'),
    (lambda x, t: (x, t.float() + 0.5), 'integer class indices'),
])
def test_bad_input_raises_clear_error(name, bad, match):
    x, t = data()
    with pytest.raises(ValueError, match=match): get_loss(name)(*bad(x, t))

@pytest.mark.parametrize('name', ALL)
def test_nan_logits_rejected_when_asked(name):
    x, t = data(); x[0, 0, 0, 0] = float('nan')
    loss = get_loss(name, check_finite=True)
    with pytest.raises(ValueError, match='NaN or Inf'): loss(x, t)

@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('shape', [(8, 8), (4, 6, 6)])
def test_finite_values_and_gradients(name, shape):
    "Extreme logits, single-class images, 2D and 3D, all reductions: finite loss and gradient."
    x, t = data(shape=shape)
    x = (x * 50).requires_grad_()            # saturated softmax
    t[0] = 0                                 # an image with only background
    loss = get_loss(name)
    v = loss(x, t); v.backward()
    assert v.ndim == 0 and torch.isfinite(v) and torch.isfinite(x.grad).all()
    loss.reduction = 'none'
    assert loss(x.detach(), t).ndim == 1
    loss.reduction = 'sum'; assert torch.isfinite(loss(x.detach(), t))

@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float64])
def test_any_float_dtype_computes_in_float32(name, dtype):
    x, t = data()
    v = get_loss(name)(x.to(dtype), t)
    assert v.dtype == torch.float32
    ref = get_loss(name)(x.to(dtype).float(), t)
    assert torch.allclose(v, ref, atol=1e-6)

@pytest.mark.parametrize('name', ALL)
def test_target_layouts_and_fastai_tensors(name):
    from fastai.vision.all import TensorMask, TensorImage
    x, t = data()
    loss = get_loss(name)
    ref = loss(x, t)
    assert torch.allclose(loss(x, t[:, None]), ref)                  # (N, 1, H, W)
    assert torch.allclose(loss(TensorImage(x), TensorMask(t)), ref)   # fastai subclasses
    assert torch.allclose(loss(x, t.float()), ref)                     # integral floats
    assert torch.allclose(loss(x, t.int()), ref)
    l2 = pickle.loads(pickle.dumps(loss))
    assert torch.allclose(l2(x, t), ref)

def test_pm_dice_bad_options():
    with pytest.raises(ValueError, match='non-negative'): PMDiceLoss(gamma=float('nan'))
    with pytest.raises(ValueError, match='non-negative'): PMDiceLoss(gamma=(1., -2.))
    with pytest.raises(ValueError, match="classes must be"): PMDiceLoss(classes='some')
    with pytest.raises(ValueError, match='reduction'): PMDiceLoss(reduction='avg')
    x, t = data(c=4)
    with pytest.raises(ValueError, match='2 values .* C=4'): PMDiceLoss(gamma=(1., 2.))(x, t)

def test_get_loss_bad_names_and_options():
    with pytest.raises(ValueError, match='unknown loss'): get_loss('dice+foo')
    with pytest.raises(ValueError, match='repeated'): get_loss('dice+dice')
    with pytest.raises(ValueError, match='not a part'): get_loss('ce+dice', pm_dice=dict(gamma=2))
    with pytest.raises(ValueError, match='must be a dict'): get_loss('ce+pm_dice', pm_dice=2)
    with pytest.raises(ValueError, match='2 losses'): get_loss('ce+dice', weights=(1, 2, 3))
    with pytest.raises(ValueError, match='single loss'): get_loss('dice', weights=(1,))
    with pytest.raises(ValueError, match='non-empty'): get_loss('')

def test_ignore_index_everywhere():
    x, t = data(c=2)
    t[:, :2] = 255
    for name in ALL:
        v = get_loss(name, ignore_index=255)(x, t)
        assert torch.isfinite(v), name

def test_all_pixels_ignored_gives_zero_not_nan():
    x, t = data(c=2); t[:] = 255
    for name in ('dice', 'pm_dice', 'ce', 'topk_dice'):
        v = get_loss(name, ignore_index=255)(x, t)
        assert torch.isfinite(v), name

def test_pm_dice_matches_monai_dice_at_gamma_zero():
    monai = pytest.importorskip('monai')
    x, t = data(c=4, shape=(16, 16))
    ref = monai.losses.DiceLoss(softmax=True, to_onehot_y=True, squared_pred=True, smooth_nr=1e-6, smooth_dr=1e-6)(x, t[:, None])
    assert torch.allclose(PMDiceLoss(gamma=0, classes='all')(x, t), ref, atol=1e-6)

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_cuda_autocast_matches_cpu():
    x, t = data(c=3, shape=(32, 32))
    for name in PAPER_LOSSES:
        loss = get_loss(name)
        with torch.autocast('cuda', dtype=torch.bfloat16):
            v = loss(x.cuda().bfloat16(), t.cuda())
        assert torch.allclose(v.cpu(), loss(x.bfloat16().float(), t), atol=1e-4), name

# ---- issue 6: compounds, TopK CE per image, empty batches, loss names; code shape -------------------------------

def test_compound_keeps_parts_of_the_same_class():
    from pmdice_nb.losses import CompoundLoss
    x, t = data()
    two = CompoundLoss([DiceLoss(), DiceLoss(eps=100.)])
    assert len(two.parts) == 2 and len(two.weights) == 2
    assert torch.allclose(two(x, t), DiceLoss()(x, t) + DiceLoss(eps=100.)(x, t))

@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -1.0, -1e-9, 'a'])
def test_compound_rejects_bad_weights(bad):
    from pmdice_nb.losses import CompoundLoss, CELoss
    with pytest.raises(ValueError, match='weight'): CompoundLoss([CELoss(), DiceLoss()], weights=(1.0, bad))
    with pytest.raises(ValueError, match='weight'): get_loss('ce+dice', weights=(bad, 1.0))

def test_topk_ce_none_reduction_gives_per_image_values():
    from pmdice_nb.losses import TopKCELoss
    import torch.nn.functional as F
    x, t = data(n=3, shape=(10, 10))
    v = TopKCELoss(k=10, reduction='none')(x, t)
    assert v.shape == (3,)
    ce = F.cross_entropy(x, t, reduction='none').flatten(1)
    assert torch.allclose(v, torch.stack([r.topk(10).values.mean() for r in ce]))
    # in a compound, each image gets its own TopK CE, not the batch's
    l = get_loss('topk_ce+dice'); l.reduction = 'none'
    assert torch.allclose(l(x, t), v + DiceLoss(reduction='none')(x, t))

def test_topk_ce_normalisation_and_ranking_options():
    from pmdice_nb.losses import TopKCELoss
    import torch.nn.functional as F
    x, t = data(n=2, shape=(10, 10))
    ce = F.cross_entropy(x, t, reduction='none').flatten()
    top = ce.topk(20).values
    assert torch.allclose(TopKCELoss(k=10)(x, t), top.mean())                       # nnU-Net: mean over kept
    assert torch.allclose(TopKCELoss(k=10, normalise='all')(x, t), top.sum() / 200)  # eq. 2 as printed: / N
    per = F.cross_entropy(x, t, reduction='none').flatten(1).topk(10, dim=1).values.mean(1)
    assert torch.allclose(TopKCELoss(k=10, rank='image')(x, t), per.mean())
    with pytest.raises(ValueError, match='normalise'): TopKCELoss(normalise='N')
    with pytest.raises(ValueError, match='rank'): TopKCELoss(rank='pixel')

def test_topk_ce_get_preds_with_loss():
    from fastai.vision.all import DataLoaders, Learner, TensorImage, TensorMask
    from torch.utils.data import TensorDataset
    xs = TensorImage(torch.randn(6, 3, 8, 8)); ys = TensorMask(torch.randint(0, 2, (6, 8, 8)))
    dls = DataLoaders.from_dsets(TensorDataset(xs, ys), TensorDataset(xs, ys), bs=3, device='cpu')
    learn = Learner(dls, torch.nn.Conv2d(3, 2, 1), loss_func=get_loss('topk_ce'))
    _, _, losses = learn.get_preds(with_loss=True)
    assert losses.shape == (6,)

@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('shape', [(0, 3, 8, 8), (2, 3, 0, 8)])
def test_empty_batch_is_a_clear_error(name, shape):
    x = torch.randn(*shape); t = torch.zeros(shape[0], *shape[2:], dtype=torch.long)
    with pytest.raises(ValueError, match='empty batch'): get_loss(name)(x, t)

def test_canonical_loss_name():
    from pmdice_nb.losses import canonical_loss_name
    assert canonical_loss_name('CE') == canonical_loss_name('ce') == 'ce'
    assert canonical_loss_name('CE + PM Dice') == 'ce+pm_dice'
    assert canonical_loss_name('  Focal CE+pm dice ') == 'focal_ce+pm_dice'
    for key, display in PAPER_LOSSES.items(): assert canonical_loss_name(display) == key
    with pytest.raises(ValueError, match=r"known: \['ce', 'dice'"): canonical_loss_name('pm_dicee')
    with pytest.raises(ValueError, match='repeated'): canonical_loss_name('Dice + dice')
    assert type(get_loss('CE + PM Dice')) is type(get_loss('ce+pm_dice'))

def test_signatures_list_every_option():
    import inspect
    from pmdice_nb.losses import LOSSES
    sig = list(inspect.signature(PMDiceLoss).parameters)
    for opt in ('gamma', 'eps', 'batch_dice', 'include_background', 'classes', 'ignore_index', 'check_finite',
                'check_labels', 'reduction'):
        assert opt in sig, opt
    for name, cls in LOSSES.items():
        params = inspect.signature(cls).parameters
        assert not any(p.kind == p.VAR_KEYWORD for p in params.values()), name   # no hidden **kwargs
        assert {'ignore_index', 'reduction', 'check_labels', 'check_finite'} <= set(params), name
        loss = cls()
        assert type(loss)(**loss.options()).options() == loss.options(), name      # options() rebuilds the loss
    assert repr(PMDiceLoss(gamma=2, classes='all')) == "PMDiceLoss(gamma=2.0, classes='all')"

def test_show_doc_lists_every_option_and_the_hooks():
    from nbdev.showdoc import show_doc
    from pmdice_nb.losses import WeightedDiceLoss
    md = show_doc(PMDiceLoss)._repr_markdown_()
    for opt in ('gamma', 'eps', 'batch_dice', 'include_background', 'classes', 'ignore_index', 'check_finite', 'reduction'):
        assert opt in md, opt
    assert 'weight_map' in show_doc(WeightedDiceLoss.weight_map)._repr_markdown_()
    assert 'class_term' in show_doc(WeightedDiceLoss.class_term)._repr_markdown_()

@pytest.mark.parametrize('gamma', [0.5, 1, 2, 5, 1.5, 3.3, (1., 2., 0.5)])
def test_pm_dice_matches_float64_formula(gamma):
    "The fused sums (in-place powers, no weight tensor) give eq. 5 exactly: values and gradients against float64."
    import torch.nn.functional as F
    x, t = data(n=2, c=3, shape=(12, 12), seed=3)
    x = x.requires_grad_()
    for ignore in (None, 255):
        tt = t.clone()
        if ignore: tt[:, :2] = 255
        v = PMDiceLoss(gamma=gamma, ignore_index=ignore)(x, tt)
        g, = torch.autograd.grad(v, x)
        x64 = x.detach().double().requires_grad_()
        p = F.softmax(x64, 1).flatten(2); valid = (tt != 255).flatten(1)[:, None].double()
        y = F.one_hot(tt.clamp_max(2), 3).movedim(-1, 1).flatten(2).double() * valid
        gam = torch.tensor(gamma, dtype=torch.float64).view(1, -1, 1) if isinstance(gamma, tuple) else gamma
        m = ((y - p).abs() ** gam).detach() * valid
        d = (2*(m*y*p).sum(2) + 1e-6) / ((m*(y + p*p)).sum(2) + 1e-6)
        present = (y.sum(2) > 0).double()
        ref = (((1 - d) * present).sum(1) / present.sum(1)).mean()
        g64, = torch.autograd.grad(ref, x64)
        assert abs(v.item() - ref.item()) < 1e-6
        assert torch.allclose(g.double(), g64, atol=1e-7, rtol=1e-4)

def test_compound_checks_input_once_and_shares_the_softmax(monkeypatch):
    import pmdice_nb.losses as L
    calls = {'prep': 0, 'softmax': 0}
    prep, soft = L.prepare_inputs, L.F.softmax
    def counting_prep(*a, **k): calls['prep'] += 1; return prep(*a, **k)
    def counting_soft(*a, **k): calls['softmax'] += 1; return soft(*a, **k)
    monkeypatch.setattr(L, 'prepare_inputs', counting_prep); monkeypatch.setattr(L.F, 'softmax', counting_soft)
    x, t = data()
    get_loss('ce+pm_dice')(x, t)
    assert calls == {'prep': 1, 'softmax': 1}

def test_saturated_ce_keeps_exact_value_and_gradient():
    import torch.nn.functional as F
    x, t = data()
    x = (x * 200).requires_grad_()
    for name in ('ce', 'ce+pm_dice'):
        v = get_loss(name)(x, t)
        ref = F.cross_entropy(x, t) + (PMDiceLoss()(x, t) if '+' in name else 0)
        assert torch.allclose(v, ref, rtol=1e-5)
        assert torch.allclose(torch.autograd.grad(v, x)[0], torch.autograd.grad(ref, x)[0], atol=1e-7)

def _keep_by_sorting(err, cand, k):
    "Brute force: per row, the ⌈k%⌉ candidates with the largest error, ties broken by pixel order."
    n_keep = torch.ceil(cand.sum(-1).double() * (k / 100)).long()
    keep = (~cand).clone().reshape(-1, err.shape[-1])
    for i, (e, c, nk) in enumerate(zip(err.reshape(-1, err.shape[-1]), cand.reshape(-1, err.shape[-1]), n_keep.flatten())):
        idx = c.nonzero().flatten().tolist()
        idx.sort(key=lambda j: (-e[j].item(), j))
        keep[i, idx[:int(nk)]] = True
    return keep.reshape(err.shape)

@pytest.mark.parametrize('seed', range(6))
def test_keep_top_fraction_is_exact_with_ties(seed):
    "The bracketed per-row threshold keeps exactly the pixels a full sort would (ties by pixel order), large and small rows."
    from pmdice_nb.losses import keep_top_fraction
    g = torch.Generator().manual_seed(seed)
    s = [7, 300, 5000, 9000, 20000, 70000][seed]
    err = torch.rand(2, 2, s, generator=g)
    if seed % 2: err = (err * 4).round() / 4                   # heavy ties
    cand = torch.rand(2, 2, s, generator=g) < [0.9, 0.5, 0.02, 0.3, 1.0, 0.6][seed]
    cand[0, 0] = False if seed == 3 else cand[0, 0]            # a row with no candidates
    for k in (1, 10, 50, 100):
        assert torch.equal(keep_top_fraction(err, cand, k), _keep_by_sorting(err, cand, k)), k
